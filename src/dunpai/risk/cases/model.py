"""Cases, alerts and the case status machine (pure: no I/O, no clock).

An alert is one reason to look at something (a decision above ``allow``, a flagged terminal, an
insider signal). Alerts open or join a case grouped by one entity — employee, terminal, customer or
card, in that order of preference — so an analyst sees one story, not forty alerts.

Status machine::

    new -> investigating -> confirmed_fraud -> closed
                         -> legitimate      -> closed

A conclusion (``confirmed_fraud`` / ``legitimate``) is a label fed back into features and training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from dunpai.core.errors import StateError
from dunpai.core.i18n import Text

CaseStatus = Literal["new", "investigating", "confirmed_fraud", "legitimate", "closed"]
STATUSES: tuple[CaseStatus, ...] = ("new", "investigating", "confirmed_fraud", "legitimate", "closed")
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"investigating"}),
    "investigating": frozenset({"confirmed_fraud", "legitimate"}),
    "confirmed_fraud": frozenset({"closed"}),
    "legitimate": frozenset({"closed"}),
    "closed": frozenset(),
}
CONCLUSIONS = frozenset({"confirmed_fraud", "legitimate"})
OPEN_STATUSES = ("new", "investigating", "confirmed_fraud", "legitimate")

STATUS_TEXT: dict[str, Text] = {
    "new": Text("新建", "new"),
    "investigating": Text("调查中", "investigating"),
    "confirmed_fraud": Text("确认欺诈", "confirmed fraud"),
    "legitimate": Text("正常交易", "legitimate"),
    "closed": Text("已结案", "closed"),
}

AlertSource = Literal["decision", "compromise", "insider", "manual"]
GroupKind = Literal["employee", "terminal", "customer", "card"]
ENTITY_KINDS = ("customer", "account", "card", "device", "terminal", "payee", "employee", "merchant")

# Hours an analyst has to take up a case, by its priority (most likely fraud first, soonest due).
DUE_HOURS: tuple[tuple[int, float], ...] = ((90, 4.0), (70, 24.0), (0, 72.0))


def check_transition(current: str, target: str) -> None:
    """Raises ``StateError`` unless ``current -> target`` is an allowed move."""
    if target not in TRANSITIONS:
        raise StateError("unknown case status", status=target)
    if target not in TRANSITIONS.get(current, frozenset()):
        raise StateError("case status change not allowed", current=current, target=target,
                         allowed=sorted(TRANSITIONS.get(current, frozenset())))


def due_after_hours(priority: int) -> float:
    for floor, hours in DUE_HOURS:
        if priority >= floor:
            return hours
    return DUE_HOURS[-1][1]


@dataclass(frozen=True)
class Alert:
    """One reason to open or join a case. ``alert_id`` is derived from the source, so re-delivering
    the same alert never duplicates it."""

    alert_id: str
    source: AlertSource
    kind: str
    score: int
    raised_at: float
    entities: dict[str, str]
    reasons: tuple[str, ...] = ()
    summary: Text = field(default_factory=lambda: Text("", ""))
    amount: int = 0
    currency: str = "CNY"
    event_id: str | None = None
    decision_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def group(self) -> tuple[GroupKind, str]:
        """The entity this alert's case is grouped by: the employee for insider alerts, the terminal
        for skimming alerts, otherwise the customer (or the card when no customer is known)."""
        orders: dict[str, tuple[GroupKind, ...]] = {"insider": ("employee", "customer"), "compromise": ("terminal",)}
        order = orders.get(self.source, ("customer", "card", "employee", "terminal"))
        for kind in order:
            key = self.entities.get(f"{kind}_id")
            if key:
                return kind, key
        raise StateError("alert names no customer, card, terminal or employee", alert_id=self.alert_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id, "source": self.source, "kind": self.kind, "score": self.score,
            "raised_at": self.raised_at, "entities": dict(self.entities), "reasons": list(self.reasons),
            "summary": self.summary.to_dict(), "amount": self.amount, "currency": self.currency,
            "event_id": self.event_id, "decision_id": self.decision_id, "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Alert:
        return cls(
            alert_id=d["alert_id"], source=d["source"], kind=d["kind"], score=int(d["score"]),
            raised_at=float(d["raised_at"]), entities=dict(d["entities"]), reasons=tuple(d.get("reasons", ())),
            summary=Text.from_dict(d.get("summary") or {"zh": "", "en": ""}), amount=int(d.get("amount", 0)),
            currency=d.get("currency", "CNY"), event_id=d.get("event_id"), decision_id=d.get("decision_id"),
            detail=dict(d.get("detail") or {}),
        )


@dataclass(frozen=True)
class Case:
    case_id: str
    tenant: str
    title: Text
    group_kind: str
    group_key: str
    status: CaseStatus
    priority: int
    amount_at_risk: int
    currency: str
    assignee: str | None
    opened_at: float
    due_at: float
    updated_at: float
    closed_at: float | None = None
    conclusion: str | None = None
    alert_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id, "title": self.title.to_dict(), "group": {"kind": self.group_kind,
                                                                             "key": self.group_key},
            "status": self.status, "status_text": STATUS_TEXT[self.status].to_dict(), "priority": self.priority,
            "amount_at_risk": self.amount_at_risk, "currency": self.currency, "assignee": self.assignee,
            "opened_at": self.opened_at, "due_at": self.due_at, "updated_at": self.updated_at,
            "closed_at": self.closed_at, "conclusion": self.conclusion, "alert_count": self.alert_count,
        }


def case_title(kind: str, key: str) -> Text:
    names = {
        "employee": Text("员工 {k} 的数据访问", "data access by employee {k}"),
        "terminal": Text("终端 {k} 疑似侧录", "suspected skimming at terminal {k}"),
        "customer": Text("客户 {k} 的可疑交易", "suspicious activity of customer {k}"),
        "card": Text("银行卡 {k} 的可疑交易", "suspicious activity on card {k}"),
    }
    return names[kind].format(k=key)


def queue_key(case: Case) -> tuple[int, int, float, str]:
    """Queue order for analyst capacity: most likely fraud first, then the most money at risk, then
    the oldest; the id breaks ties so the order is total."""
    return (-case.priority, -case.amount_at_risk, case.opened_at, case.case_id)
