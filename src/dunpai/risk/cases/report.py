"""The police report (报案材料): a case exported as a PDF in Chinese, or English.

``report_data`` gathers what the report states (pure over the case detail and evidence headers);
``render_pdf`` lays it out with ReportLab. Chinese needs an embeddable TrueType font: WenQuanYi
Micro Hei or AR PL UMing from Debian (``scripts/system-deps.sh``); failing those, ReportLab's
built-in STSong-Light CID font, which PDF readers supply themselves.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from dunpai.core.i18n import Text
from dunpai.risk.cases.alerts import reason_text
from dunpai.risk.cases.model import STATUS_TEXT
from dunpai.risk.cases.notices import DEFAULT_BANK, yuan
from dunpai.risk.cases.report_words import event_words, history_words, place

CST = timezone(timedelta(hours=8))
FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
)
_FONT: str | None = None

LABELS: dict[str, tuple[str, str]] = {
    "title": ("银行卡盗刷案件报案材料", "Report of a bank-card fraud case to the police"),
    "bank": ("报案单位：{bank} 风险管理部", "Reporting institution: {bank}, Risk Management"),
    "summary": ("一、案件概要", "1. Summary"),
    "timeline": ("二、时间经过", "2. Timeline"),
    "amounts": ("三、涉案金额", "3. Amounts"),
    "frozen": ("四、已采取的账户措施", "4. Accounts frozen or restricted"),
    "evidence": ("五、证据清单（SHA-256）", "5. Evidence manifest (SHA-256)"),
    "case_id": ("案件编号", "Case"), "status": ("状态", "Status"), "opened": ("立案时间", "Opened"),
    "subject": ("涉案对象", "Subject"), "reasons": ("异常原因", "Why it is abnormal"),
    "time": ("时间", "Time"), "what": ("事项", "What"), "detail": ("详情", "Detail"),
    "amount": ("金额（元）", "Amount (CNY)"), "outcome": ("处理结果", "Outcome"),
    "total": ("涉案总额", "Total involved"), "target": ("对象", "Target"), "measure": ("措施", "Measure"),
    "basis": ("法律依据", "Legal basis"), "by": ("申请 / 批准", "Requested / approved"),
    "seq": ("序号", "#"), "kind": ("类别", "Kind"), "name": ("名称", "Name"), "hash": ("SHA-256", "SHA-256"),
    "head": ("证据链末项哈希", "Evidence chain head"), "generated": ("生成时间", "Generated"),
    "none": ("无", "none"),
}
MEASURES = {"freeze": ("冻结", "freeze"), "restrict": ("限制非柜面业务", "restrict non-counter business"),
            "unfreeze": ("解冻", "unfreeze")}
SUBJECTS = {"customer": ("客户", "customer"), "card": ("银行卡", "card"), "terminal": ("终端", "terminal"),
            "employee": ("员工", "employee"), "account": ("账户", "account")}
OUTCOMES = {"allow": ("已放行", "allowed"), "verify": ("要求验证", "step-up"), "delay": ("暂缓", "held"),
            "restrict": ("已拦截并限制", "stopped, restricted"), "freeze": ("已拦截并冻结", "stopped, frozen")}


def cjk_font() -> str:
    global _FONT
    if _FONT is not None:
        return _FONT
    for path, index in FONT_CANDIDATES:
        if Path(path).is_file():
            try:
                pdfmetrics.registerFont(TTFont("DunpaiCJK", path, subfontIndex=index))
                _FONT = "DunpaiCJK"
                return _FONT
            except Exception:  # noqa: S112 - an unreadable font file: try the next one
                continue
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    _FONT = "STSong-Light"
    return _FONT


def when(t: float | str) -> str:
    dt = datetime.fromisoformat(t) if isinstance(t, str) else datetime.fromtimestamp(t, CST)
    return dt.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


def report_data(detail: Mapping[str, Any], events: list[dict[str, Any]], generated_at: float) -> dict[str, Any]:
    """What the report says, from ``CaseService.detail`` and ``case_events``."""
    case = detail["case"]
    alerted = {a["event_id"] for a in detail["alerts"] if a.get("event_id")}
    money = [e for e in events if e.get("amount") is not None and e["event_id"] in alerted
             and e.get("type") in ("card_present", "card_not_present", "mobile_transfer")
             and e.get("txn") != "atm_deposit"]
    timeline = []
    for e in events:
        if e["event_id"] in alerted or e.get("type") in ("device", "login"):
            d = e.get("decision") or {}
            where = (e.get("terminal_location") or e.get("location") or {}).get("city", "")
            what = event_words(str(e.get("type")), str(e.get("txn") or e.get("kind") or e.get("action")
                                                        or e.get("channel") or ""))
            timeline.append({"time": when(e["event_time"]), "what": what.to_dict(), "where": place(where),
                             "terminal": e.get("terminal_id", ""), "amount": e.get("amount"),
                             "action": d.get("action", ""), "card": e.get("card_masked", "")})
    for h in detail["timeline"]:
        if h["kind"] in ("status", "action_approved", "dispute_settled", "footage"):
            what = history_words(h["kind"], str(h.get("to") or h.get("action") or ""), STATUS_TEXT)
            timeline.append({"time": when(h["at"]), "what": what.to_dict(), "where": "", "terminal": "",
                             "amount": h.get("paid"), "action": "", "card": h.get("target_id", "")})
    timeline.sort(key=lambda r: r["time"])
    codes = list(dict.fromkeys(r for a in detail["alerts"] for r in a["reasons"]))
    reasons = [reason_text(c).to_dict() for c in codes] or [a["summary"] for a in detail["alerts"][:1]]
    actions = [a for a in detail["actions"] if a["status"] == "approved"]
    return {
        "case": case, "reasons": reasons[:6], "timeline": timeline,
        "money": [{"time": when(e["event_time"]), "event_id": e["event_id"], "amount": int(e["amount"]),
                   "action": (e.get("decision") or {}).get("action", ""), "terminal": e.get("terminal_id", ""),
                   "what": event_words(str(e.get("type")), str(e.get("txn") or e.get("kind") or "")).to_dict()}
                  for e in money],
        "total": sum(int(e["amount"]) for e in money),
        "actions": actions, "evidence": detail["evidence"],
        "head": detail["evidence"][-1]["item_hash"] if detail["evidence"] else None,
        "generated_at": when(generated_at),
    }


def render_pdf(data: Mapping[str, Any], lang: str = "zh", bank: Text = DEFAULT_BANK.name) -> bytes:
    """The report as PDF bytes; ``lang`` is ``zh`` or ``en``; ``bank`` reports (the settings' ``bank``)."""
    i = 0 if lang == "zh" else 1
    code = "zh" if i == 0 else "en"
    font = cjk_font()

    def L(key: str) -> str:
        return LABELS[key][i]

    base = ParagraphStyle("base", fontName=font, fontSize=9.5, leading=13.5)
    small = ParagraphStyle("small", parent=base, fontSize=7, leading=9)
    h1 = ParagraphStyle("h1", parent=base, fontSize=16, leading=22, spaceAfter=4)
    h2 = ParagraphStyle("h2", parent=base, fontSize=12, leading=17, spaceBefore=8, spaceAfter=4,
                        textColor=colors.HexColor("#8a1c1c"))

    def P(text: Any, style: ParagraphStyle = base) -> Paragraph:
        s = "" if text is None else str(text)
        return Paragraph(s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), style)

    def table(rows: list[list[Any]], widths: list[float], style: ParagraphStyle = base) -> Table:
        t = Table([[P(c, style) for c in r] for r in rows], colWidths=widths, repeatRows=1)
        t.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]))
        return t

    case = data["case"]
    subject = SUBJECTS.get(case["group"]["kind"], (case["group"]["kind"],) * 2)[i]
    story: list[Any] = [P(L("title"), h1), P(L("bank").format(bank=bank.zh if i == 0 else bank.en)),
                        Spacer(1, 4 * mm), P(L("summary"), h2)]
    story.append(table([
        [L("case_id"), case["case_id"]],
        [L("status"), case["status_text"]["zh" if i == 0 else "en"]],
        [L("opened"), when(case["opened_at"])],
        [L("subject"), f"{subject} {case['group']['key']}"],
        [L("reasons"), ("；" if i == 0 else "; ").join(r["zh" if i == 0 else "en"] for r in data["reasons"])
         or L("none")],
        [L("total"), yuan(int(data["total"]))],
    ], [40 * mm, 130 * mm]))
    story += [P(L("timeline"), h2)]
    rows: list[list[Any]] = [[L("time"), L("what"), L("detail"), L("amount"), L("outcome")]]
    for r in data["timeline"]:
        detail = " ".join(x for x in (r["where"], r["terminal"], r["card"]) if x)
        outcome = OUTCOMES.get(r["action"], (r["action"], r["action"]))[i] if r["action"] else ""
        rows.append([r["time"], r["what"][code], detail,
                     "" if r["amount"] is None else yuan(int(r["amount"])), outcome])
    story.append(table(rows, [32 * mm, 38 * mm, 50 * mm, 22 * mm, 28 * mm], small))
    story += [P(L("amounts"), h2)]
    rows = [[L("time"), L("what"), L("detail"), L("amount"), L("outcome")]]
    for m in data["money"]:
        rows.append([m["time"], m["what"][code], f"{m['terminal']} {m['event_id']}",
                     yuan(m["amount"]), OUTCOMES.get(m["action"], (m["action"], m["action"]))[i]])
    rows.append([L("total"), "", "", yuan(int(data["total"])), ""])
    story.append(table(rows, [32 * mm, 30 * mm, 58 * mm, 24 * mm, 26 * mm], small))
    story += [P(L("frozen"), h2)]
    rows = [[L("target"), L("measure"), L("basis"), L("by"), L("time")]]
    for a in data["actions"]:
        kind = SUBJECTS.get(a["target"]["kind"], (a["target"]["kind"],) * 2)[i]
        rows.append([f"{kind} {a['target']['id']}", MEASURES[a["action"]][i],
                     a["legal_basis_text"][code], f"{a['requested_by']} / {a['decided_by']}",
                     when(a["decided_at"])])
    if len(rows) == 1:
        rows.append([L("none"), "", "", "", ""])
    story.append(table(rows, [34 * mm, 24 * mm, 50 * mm, 32 * mm, 30 * mm], small))
    story += [P(L("evidence"), h2)]
    rows = [[L("seq"), L("kind"), L("name"), L("hash")]]
    for e in data["evidence"]:
        rows.append([e["seq"], e["kind"], e["name"], e["content_sha256"]])
    story.append(table(rows, [10 * mm, 20 * mm, 48 * mm, 92 * mm], small))
    story += [Spacer(1, 3 * mm), P(f"{L('head')}: {data['head'] or L('none')}", small),
              P(f"{L('generated')}: {data['generated_at']} (UTC+8)", small)]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=16 * mm, title=LABELS["title"][i], author="Dunpai", subject=case["case_id"],
                            invariant=1)
    doc.build(story)
    return buf.getvalue()
