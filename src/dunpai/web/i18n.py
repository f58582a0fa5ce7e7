"""The console's words, Chinese first. Templates call ``t("key")``; a missing key raises, so a page
can never show a bare key."""

from __future__ import annotations

from dunpai.core.i18n import Text

LANGS = ("zh", "en")

WORDS: dict[str, Text] = {
    "app": Text("盾牌 风险案件控制台", "Dunpai risk case console"),
    "signin": Text("登录", "Sign in"), "signout": Text("退出", "Sign out"),
    "username": Text("用户名", "User name"), "password": Text("密码", "Password"),
    "bad_signin": Text("用户名或密码错误", "Wrong user name or password"),
    "queue": Text("预警队列", "Alert queue"), "actions": Text("账户措施", "Account actions"),
    "rules": Text("规则", "Rules"), "dashboard": Text("监控看板", "Dashboards"),
    "case": Text("案件", "Case"), "status": Text("状态", "Status"), "priority": Text("优先级", "Priority"),
    "amount_at_risk": Text("涉险金额", "At risk"), "alerts": Text("预警", "Alerts"),
    "assignee": Text("处理人", "Assignee"), "due": Text("到期", "Due"), "opened": Text("立案", "Opened"),
    "title": Text("标题", "Title"), "none": Text("无", "none"), "unassigned": Text("未分配", "unassigned"),
    "take_next": Text("领取下一件", "Take the next case"), "assign_me": Text("分配给我", "Assign to me"),
    "timeline": Text("时间线", "Timeline"), "map": Text("刷卡地点图", "Map of card-present uses"),
    "graph": Text("关联图谱", "Linked entities"), "evidence": Text("证据（哈希链）", "Evidence (hash chain)"),
    "collect": Text("收集证据", "Collect evidence"), "notes": Text("备注", "Notes"),
    "add_note": Text("添加备注", "Add note"), "move_to": Text("变更状态为", "Move to"),
    "note_required": Text("结论必须附备注", "A conclusion needs a note"),
    "request_action": Text("申请账户措施", "Request an account action"),
    "target": Text("对象", "Target"), "measure": Text("措施", "Measure"),
    "legal_basis": Text("法律依据", "Legal basis"),
    "reason": Text("原因", "Reason"), "submit": Text("提交", "Submit"),
    "pending": Text("待审批", "Awaiting approval"), "approve": Text("批准", "Approve"),
    "reject": Text("驳回", "Reject"),
    "requested_by": Text("申请人", "Requested by"), "approved_by": Text("批准人", "Approved by"),
    "dual_control": Text("双人控制：申请人不能批准自己的申请，须由主管批准。",
                         "Dual control: the requester cannot approve; a supervisor must."),
    "states": Text("账户当前状态", "Account states"), "state": Text("状态", "State"),
    "since": Text("起始", "Since"), "notices": Text("客户通知", "Customer notices"),
    "sms": Text("短信", "SMS"), "app_text": Text("手机银行全文", "In the app"),
    "disputes": Text("争议与赔付", "Disputes and compensation"), "claimed": Text("索赔金额", "Claimed"),
    "bank_share": Text("银行承担", "Bank's share"), "customer_share": Text("客户承担", "Customer's share"),
    "paid": Text("已赔付", "Paid"), "report": Text("报案材料 PDF", "Police report PDF"),
    "report_zh": Text("中文", "Chinese"), "report_en": Text("英文", "English"),
    "rule": Text("规则", "Rule"), "action": Text("动作", "Action"), "score": Text("分值", "Score"),
    "hits": Text("命中", "Hits"), "hit_rate": Text("命中率", "Hit rate"), "per_day": Text("日均预警", "Alerts/day"),
    "precision": Text("精确率", "Precision"), "recall": Text("召回率", "Recall"),
    "labelled": Text("已标注命中", "Labelled hits"), "expression": Text("表达式", "Expression"),
    "ruleset": Text("规则集版本", "Ruleset version"),
    "rules_note": Text("回测指标基于本行已记录的决策（每条决策保存每条规则的结果）与分析师结论等标签。",
                       "Backtest figures are measured on this bank's recorded decisions (each keeps every rule's "
                       "outcome) against labels such as analysts' conclusions."),
    "actions_over_time": Text("各处置动作随时间变化", "Actions over time"),
    "alert_volume": Text("预警量（按来源）", "Alert volume by source"),
    "rule_hit_rates": Text("规则命中率", "Rule hit rates"), "score_dist": Text("风险分值分布", "Score distribution"),
    "model_dist": Text("模型概率分布", "Model probability distribution"),
    "no_model": Text("当前未启用模型评分", "No model is scoring at present"),
    "live_model": Text("在线模型", "Live model"),
    "kind_lightgbm-binary": Text("有监督模型（LightGBM）", "supervised model (LightGBM)"),
    "kind_habit-deviation": Text("冷启动：习惯偏离评分（无需标签）",
                                 "cold start: habit-deviation score (no labels needed)"),
    "decisions": Text("决策数", "Decisions"), "when": Text("时间", "Time"), "what": Text("事项", "What"),
    "detail": Text("详情", "Detail"), "who": Text("人员", "Who"), "kind": Text("类别", "Kind"),
    "name": Text("名称", "Name"), "seq": Text("序号", "#"), "forbidden": Text("无权执行此操作", "Not allowed"),
    "not_found": Text("未找到", "Not found"), "error": Text("操作未完成", "That did not work"),
    "back": Text("返回", "Back"), "viewing_audited": Text("本页查看客户数据，已记录审计。",
                                                       "Viewing this page is recorded as access to customer data."),
    "entities": Text("涉案对象", "Entities"), "outcome": Text("处理", "Outcome"),
    "signed_in_as": Text("当前用户", "Signed in as"),
}


def word(key: str, lang: str) -> str:
    text = WORDS[key]
    return text.zh if lang == "zh" else text.en


def pick(value: object, lang: str) -> str:
    """A ``Text`` or ``{"zh":…, "en":…}`` in the page's language."""
    if isinstance(value, Text):
        return value.zh if lang == "zh" else value.en
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("zh") or "")
    return "" if value is None else str(value)


from dunpai.risk.cases.report_words import PLACES  # noqa: E402  (the words above come first)
from dunpai.web.words import CODES, MORE  # noqa: E402

WORDS.update({k: v for k, v in MORE.items() if k not in WORDS})
_ENGLISH_PLACES = {en.lower(): zh for zh, en in PLACES.items()}


def text_of(group: str, code: object, lang: str) -> str:
    """A system code in words (``text_of("action", "freeze", "en")`` -> "freeze"); a code without
    words is shown as it is, so nothing new ever disappears from a page."""
    found = CODES.get(group, {}).get(str(code))
    if found is None:
        return "" if code is None else str(code)
    return found.zh if lang == "zh" else found.en


def place_name(name: object, lang: str) -> str:
    """A place in the page's language ("宾阳" -> "Binyang" on an English page, and back)."""
    text = "" if name is None else str(name).strip()
    if lang == "en":
        return PLACES.get(text, text)
    return _ENGLISH_PLACES.get(text.lower(), text)
