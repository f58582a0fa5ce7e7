"""The police report's words: what happened, in each language, instead of the system's codes.

An officer reads "ATM withdrawal (card present)", not ``card_present atm_withdrawal``; places are
named in both languages ("宾阳 Binyang"), whichever language the event gave them in. A code without
words here is shown as it is, so a new event kind never disappears from a report.
"""

from __future__ import annotations

from dunpai.core.i18n import Text

# (event type, transaction / kind / action) -> what happened
EVENT_WORDS: dict[tuple[str, str], Text] = {
    ("card_present", "atm_withdrawal"): Text("ATM 取款（持卡）", "ATM cash withdrawal (card present)"),
    ("card_present", "atm_deposit"): Text("ATM 存款（持卡）", "ATM cash deposit (card present)"),
    ("card_present", "pos_purchase"): Text("POS 刷卡消费", "card payment at a shop terminal"),
    ("card_not_present", ""): Text("网上/电话支付（无卡）", "online or telephone payment (card not present)"),
    ("mobile_transfer", "transfer"): Text("手机银行转账", "mobile-banking transfer"),
    ("mobile_transfer", "payment"): Text("手机银行支付", "mobile-banking payment"),
    ("mobile_transfer", "cash_out"): Text("手机银行提现", "mobile-banking cash-out"),
    ("login", ""): Text("登录", "log-in"),
    ("login", "app"): Text("手机银行登录", "log-in to the banking app"),
    ("login", "web"): Text("网上银行登录", "log-in to online banking"),
    ("login", "counter"): Text("柜面登录", "log-in at a branch counter"),
    ("device", "enrol"): Text("绑定新设备", "new device enrolled"),
    ("device", "remove"): Text("解绑设备", "device removed"),
    ("device", "sim_change"): Text("更换 SIM 卡", "SIM card changed"),
    ("device", "remote_access_app"): Text("发现远程控制应用", "remote-control app found on the phone"),
    ("device", "overlay_app"): Text("发现悬浮窗（覆盖）应用", "screen-overlay app found on the phone"),
    ("device", "malware"): Text("发现恶意软件", "malware found on the phone"),
    ("device", "rooted"): Text("设备已被 root", "phone rooted (security bypassed)"),
    ("card", "reissue"): Text("补发新卡", "card reissued"),
    ("card", "block"): Text("挂失止付", "card blocked"),
    ("card", "unblock"): Text("解除止付", "card unblocked"),
    ("staff_access", ""): Text("员工查询客户数据", "staff query of customer data"),
}
# case history entries (kind, detail) -> what the bank did
HISTORY_WORDS: dict[str, Text] = {
    "status": Text("案件状态变为", "case status changed to"),
    "action_approved": Text("账户措施经双人批准", "account action approved by a second person"),
    "dispute_settled": Text("争议已结算，先行赔付", "dispute settled, customer compensated"),
    "footage": Text("已调取监控录像", "camera footage secured"),
}
ACTION_WORDS: dict[str, Text] = {
    "freeze": Text("冻结", "freeze"), "restrict": Text("限制非柜面业务", "restrict non-counter business"),
    "unfreeze": Text("解冻", "unfreeze"),
}
# Places named in the events, Chinese -> English (and back); the source's cases are in Guangxi.
PLACES: dict[str, str] = {
    "南宁": "Nanning", "宾阳": "Binyang", "柳州": "Liuzhou", "桂林": "Guilin", "北海": "Beihai",
    "梧州": "Wuzhou", "玉林": "Yulin", "钦州": "Qinzhou", "百色": "Baise", "贵港": "Guigang",
    "防城港": "Fangchenggang", "河池": "Hechi", "来宾": "Laibin", "崇左": "Chongzuo", "贺州": "Hezhou",
    "广州": "Guangzhou", "深圳": "Shenzhen", "北京": "Beijing", "上海": "Shanghai", "昆明": "Kunming",
}
_ENGLISH = {en.lower(): zh for zh, en in PLACES.items()}


def event_words(event_type: str, detail: str) -> Text:
    """What an event was, e.g. ("card_present", "atm_withdrawal") -> ATM cash withdrawal."""
    found = EVENT_WORDS.get((event_type, detail)) or EVENT_WORDS.get((event_type, ""))
    return found or Text(f"{event_type} {detail}".strip(), f"{event_type} {detail}".strip())


def history_words(kind: str, detail: str, status_text: dict[str, Text]) -> Text:
    """What the bank did, e.g. ("action_approved", "freeze") -> account action approved: freeze."""
    head = HISTORY_WORDS.get(kind)
    if head is None:
        return Text(f"{kind} {detail}".strip(), f"{kind} {detail}".strip())
    tail = status_text.get(detail) if kind == "status" else ACTION_WORDS.get(detail)
    if tail is None:
        return head if not detail else Text(f"{head.zh}：{detail}", f"{head.en}: {detail}")
    return Text(f"{head.zh}：{tail.zh}", f"{head.en}: {tail.en}")


def place(name: str) -> str:
    """A place in both languages ("宾阳" or "Binyang" -> "宾阳 Binyang"); unknown names as given."""
    name = name.strip()
    if not name:
        return ""
    parts = name.split()
    if len(parts) == 2 and PLACES.get(parts[0]) == parts[1]:
        return name
    if name in PLACES:
        return f"{name} {PLACES[name]}"
    zh = _ENGLISH.get(name.lower())
    return f"{zh} {PLACES[zh]}" if zh else name
