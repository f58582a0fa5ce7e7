"""Finding cases: the queue's search, filters, sort and paging, each case's type, and analysts'
saved views.

A case's *type* says which story it tells, and so which layout the console gives it: ``card_fraud``
(counterfeit or stolen card use), ``takeover`` (mobile banking taken over: new device, SIM swap,
remote control, unsigned transfers), ``skimming`` (a terminal suspected of copying cards),
``insider`` (an employee's access to customer data), ``other``. It follows from the case's alerts,
so it is computed when read, never stored (a later alert may change it).

Filters that SQL answers well (status, assignee, priority, money, dates, text) narrow the rows in
the database; the type, the order and the page are then settled here over those rows.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, delete, insert, or_, select

from dunpai.core.errors import FieldProblem, InvalidInput
from dunpai.risk.cases import tables as t
from dunpai.risk.cases.model import OPEN_STATUSES, STATUSES, Case, queue_key

CaseType = Literal["card_fraud", "takeover", "skimming", "insider", "other"]
CASE_TYPES: tuple[CaseType, ...] = ("card_fraud", "takeover", "skimming", "insider", "other")
SORTS = ("queue", "priority", "amount", "opened", "due", "updated", "alerts")
PAGE_SIZES = (25, 50, 100)
_CARD_EVENTS = ("card_present", "card_not_present")
_APP_EVENTS = ("mobile_transfer", "login", "device")


def alert_family(source: str, kind: str, event_type: str | None) -> CaseType:
    """Which story one alert belongs to, from its source, first reason and event type."""
    if source == "insider" or kind.startswith("insider.") or event_type == "staff_access":
        return "insider"
    if source == "compromise" or kind.startswith("compromise."):
        return "skimming"
    if kind.startswith(("counterfeit.", "card.")):
        return "card_fraud"
    if kind.startswith(("takeover.", "access.")):
        return "takeover"
    if event_type in _CARD_EVENTS or kind in _CARD_EVENTS:
        return "card_fraud"
    if event_type in _APP_EVENTS or kind in _APP_EVENTS:
        return "takeover"
    return "other"


def case_type(group_kind: str, alerts: Iterable[tuple[str, str, str | None, int]]) -> CaseType:
    """A case's type: by its group for employee and terminal cases, else the family of its alerts
    with the most weight (score summed), a counterfeit card before a takeover on a tie."""
    if group_kind == "employee":
        return "insider"
    if group_kind == "terminal":
        return "skimming"
    weight: Counter[CaseType] = Counter()
    for source, kind, event_type, score in alerts:
        weight[alert_family(source, kind, event_type)] += max(score, 1)
    if not weight:
        return "other"
    return max(CASE_TYPES, key=lambda k: (weight[k], -CASE_TYPES.index(k)))


def case_types_txn(conn: Connection, tenant: str, cases: Mapping[str, str]) -> dict[str, CaseType]:
    """Case id -> type, for ``cases`` given as case id -> group kind."""
    found: dict[str, list[tuple[str, str, str | None, int]]] = {cid: [] for cid in cases}
    ids = sorted(cid for cid, kind in cases.items() if kind not in ("employee", "terminal"))
    for i in range(0, len(ids), 500):
        rows = conn.execute(select(t.alerts.c.case_id, t.alerts.c.source, t.alerts.c.kind, t.alerts.c.score,
                                   t.alerts.c.body).where(t.alerts.c.tenant == tenant,
                                                          t.alerts.c.case_id.in_(ids[i:i + 500])))
        for cid, source, kind, score, body in rows:
            event_type = (json.loads(body).get("detail") or {}).get("event_type")
            found[cid].append((str(source), str(kind), event_type, int(score)))
    return {cid: case_type(kind, found[cid]) for cid, kind in cases.items()}


@dataclass(frozen=True)
class QueueFilter:
    """What an analyst asks the queue for. Money in minor units; times in epoch seconds; ``assignee``
    is a user name, ``""`` for unassigned cases, ``None`` for anyone's."""

    text: str = ""
    statuses: tuple[str, ...] = OPEN_STATUSES
    types: tuple[str, ...] = ()
    priority_min: int | None = None
    assignee: str | None = None
    amount_min: int | None = None
    amount_max: int | None = None
    opened_from: float | None = None
    opened_to: float | None = None
    sort: str = "queue"
    descending: bool = True
    page: int = 1
    per_page: int = 25

    def __post_init__(self) -> None:
        problems = []
        if any(s not in STATUSES for s in self.statuses):
            problems.append(FieldProblem("status", f"one of {', '.join(STATUSES)}"))
        if any(k not in CASE_TYPES for k in self.types):
            problems.append(FieldProblem("type", f"one of {', '.join(CASE_TYPES)}"))
        if self.priority_min is not None and not 0 <= self.priority_min <= 100:
            problems.append(FieldProblem("priority_min", "0 to 100"))
        for name in ("amount_min", "amount_max"):
            value = getattr(self, name)
            if value is not None and value < 0:
                problems.append(FieldProblem(name, "not negative"))
        if self.sort not in SORTS:
            problems.append(FieldProblem("sort", f"one of {', '.join(SORTS)}"))
        if self.page < 1:
            problems.append(FieldProblem("page", "1 or more"))
        if self.per_page not in PAGE_SIZES:
            problems.append(FieldProblem("per_page", f"one of {', '.join(map(str, PAGE_SIZES))}"))
        if len(self.text) > 128:
            problems.append(FieldProblem("q", "at most 128 characters"))
        if problems:
            raise InvalidInput("invalid queue filter", problems=problems)


@dataclass(frozen=True)
class QueuePage:
    cases: list[Case]
    total: int
    types: dict[str, CaseType] = field(default_factory=dict)
    page: int = 1
    per_page: int = 25

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per_page)


def _sort_key(sort: str) -> Any:
    keys = {
        "priority": lambda c: (c.priority, c.amount_at_risk, -c.opened_at),
        "amount": lambda c: (c.amount_at_risk, c.priority),
        "opened": lambda c: (c.opened_at,),
        "due": lambda c: (c.due_at,),
        "updated": lambda c: (c.updated_at,),
        "alerts": lambda c: (c.alert_count, c.priority),
    }
    return keys[sort]


def search_txn(conn: Connection, tenant: str, f: QueueFilter, candidates: list[Case]) -> QueuePage:
    """Settle type, order and page over ``candidates`` (the rows ``filtered_cases_txn`` found)."""
    types = case_types_txn(conn, tenant, {c.case_id: c.group_kind for c in candidates})
    rows = [c for c in candidates if not f.types or types[c.case_id] in f.types]
    if f.sort == "queue":
        rows.sort(key=queue_key, reverse=not f.descending)
    else:
        rows.sort(key=lambda c: c.case_id)  # ties broken by id, whatever the direction
        rows.sort(key=_sort_key(f.sort), reverse=f.descending)
    start = (f.page - 1) * f.per_page
    shown = rows[start:start + f.per_page]
    return QueuePage(shown, len(rows), {c.case_id: types[c.case_id] for c in shown}, f.page, f.per_page)


def filtered_ids_query(tenant: str, f: QueueFilter) -> Any:
    """The SQL half of a filter: case ids of the tenant matching everything but the type."""
    c = t.cases.c
    q = select(c.case_id).where(c.tenant == tenant)
    if f.statuses:
        q = q.where(c.status.in_(f.statuses))
    if f.priority_min is not None:
        q = q.where(c.priority >= f.priority_min)
    if f.assignee == "":
        q = q.where(c.assignee.is_(None))
    elif f.assignee is not None:
        q = q.where(c.assignee == f.assignee)
    if f.amount_min is not None:
        q = q.where(c.amount_at_risk >= f.amount_min)
    if f.amount_max is not None:
        q = q.where(c.amount_at_risk <= f.amount_max)
    if f.opened_from is not None:
        q = q.where(c.opened_at >= f.opened_from)
    if f.opened_to is not None:
        q = q.where(c.opened_at < f.opened_to)
    text = f.text.strip()
    if text:
        linked = select(t.entities.c.case_id).where(t.entities.c.tenant == tenant,
                                                    t.entities.c.key.contains(text, autoescape=True))
        q = q.where(or_(c.case_id.contains(text, autoescape=True), c.group_key.contains(text, autoescape=True),
                        c.title.contains(text, autoescape=True), c.case_id.in_(linked)))
    return q


# -- saved views ---------------------------------------------------------------------------------

def save_view_txn(conn: Connection, tenant: str, owner: str, name: str, query: str, at: float) -> None:
    conn.execute(delete(t.saved_views).where(t.saved_views.c.tenant == tenant, t.saved_views.c.owner == owner,
                                             t.saved_views.c.name == name))
    conn.execute(insert(t.saved_views).values(tenant=tenant, owner=owner, name=name, query=query, created_at=at))


def delete_view_txn(conn: Connection, tenant: str, owner: str, name: str) -> bool:
    res = conn.execute(delete(t.saved_views).where(t.saved_views.c.tenant == tenant, t.saved_views.c.owner == owner,
                                                   t.saved_views.c.name == name))
    return bool(res.rowcount)


def views_txn(conn: Connection, tenant: str, owner: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(t.saved_views.c.name, t.saved_views.c.query).where(
        t.saved_views.c.tenant == tenant, t.saved_views.c.owner == owner).order_by(t.saved_views.c.name))
    return [{"name": str(name), "query": str(query)} for name, query in rows]
