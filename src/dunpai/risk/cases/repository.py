"""SQL of case management, one function per statement (``*_txn`` run inside the caller's
transaction). Every query names its tenant."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, and_, event, func, insert, select, update

from dunpai.core.i18n import Text
from dunpai.risk.cases import tables as t
from dunpai.risk.cases.accounts import states_changed
from dunpai.risk.cases.controls import ActionRequest
from dunpai.risk.cases.evidence import EvidenceItem
from dunpai.risk.cases.ledger import Entry, Line
from dunpai.risk.cases.model import OPEN_STATUSES, Alert, Case


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


# -- cases -----------------------------------------------------------------------------------------

def _case(row: Any, alert_count: int = 0) -> Case:
    return Case(row.case_id, row.tenant, Text.from_dict(json.loads(row.title)), row.group_kind, row.group_key,
                row.status, int(row.priority), int(row.amount_at_risk), row.currency, row.assignee,
                float(row.opened_at), float(row.due_at), float(row.updated_at), row.closed_at, row.conclusion,
                alert_count)


def insert_case_txn(conn: Connection, c: Case) -> None:
    conn.execute(insert(t.cases).values(
        case_id=c.case_id, tenant=c.tenant, title=_dumps(c.title.to_dict()), group_kind=c.group_kind,
        group_key=c.group_key, status=c.status, priority=c.priority, amount_at_risk=c.amount_at_risk,
        currency=c.currency, assignee=c.assignee, opened_at=c.opened_at, due_at=c.due_at, updated_at=c.updated_at))


def update_case_txn(conn: Connection, tenant: str, case_id: str, **values: Any) -> None:
    conn.execute(update(t.cases).where(t.cases.c.tenant == tenant, t.cases.c.case_id == case_id).values(**values))


def _alert_counts(conn: Connection, tenant: str, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    rows = conn.execute(select(t.alerts.c.case_id, func.count()).where(
        t.alerts.c.tenant == tenant, t.alerts.c.case_id.in_(ids)).group_by(t.alerts.c.case_id))
    return {r[0]: int(r[1]) for r in rows}


def case_txn(conn: Connection, tenant: str, case_id: str) -> Case | None:
    row = conn.execute(select(t.cases).where(t.cases.c.tenant == tenant, t.cases.c.case_id == case_id)).first()
    if row is None:
        return None
    return _case(row, _alert_counts(conn, tenant, [case_id]).get(case_id, 0))


def open_case_for_group_txn(conn: Connection, tenant: str, kind: str, key: str) -> Case | None:
    row = conn.execute(select(t.cases).where(
        t.cases.c.tenant == tenant, t.cases.c.group_kind == kind, t.cases.c.group_key == key,
        t.cases.c.status.in_(OPEN_STATUSES)).order_by(t.cases.c.opened_at).limit(1)).first()
    return _case(row) if row else None


def cases_txn(conn: Connection, tenant: str, statuses: tuple[str, ...] | None = None,
              assignee: str | None = None) -> list[Case]:
    q = select(t.cases).where(t.cases.c.tenant == tenant)
    if statuses:
        q = q.where(t.cases.c.status.in_(statuses))
    if assignee is not None:
        q = q.where(t.cases.c.assignee == assignee)
    rows = conn.execute(q).all()
    counts = _alert_counts(conn, tenant, [r.case_id for r in rows])
    return [_case(r, counts.get(r.case_id, 0)) for r in rows]


def cases_in_txn(conn: Connection, tenant: str, ids: Any) -> list[Case]:
    """The tenant's cases whose id is in ``ids`` (a select of case ids)."""
    rows = conn.execute(select(t.cases).where(t.cases.c.tenant == tenant, t.cases.c.case_id.in_(ids))).all()
    counts = _alert_counts(conn, tenant, [r.case_id for r in rows])
    return [_case(r, counts.get(r.case_id, 0)) for r in rows]


def cases_for_entity_txn(conn: Connection, tenant: str, kind: str, key: str) -> list[Case]:
    """Every case (open or closed) that names ``kind``/``key`` among its entities, newest first."""
    linked = select(t.entities.c.case_id).where(t.entities.c.tenant == tenant, t.entities.c.kind == kind,
                                                t.entities.c.key == key)
    return sorted(cases_in_txn(conn, tenant, linked), key=lambda c: (-c.opened_at, c.case_id))


# -- alerts and entities ---------------------------------------------------------------------------

def alert_exists_txn(conn: Connection, tenant: str, alert_id: str) -> str | None:
    row = conn.execute(select(t.alerts.c.case_id).where(t.alerts.c.tenant == tenant,
                                                        t.alerts.c.alert_id == alert_id)).first()
    return str(row[0]) if row else None


def insert_alert_txn(conn: Connection, tenant: str, case_id: str, a: Alert) -> None:
    conn.execute(insert(t.alerts).values(tenant=tenant, alert_id=a.alert_id, case_id=case_id, source=a.source,
                                         kind=a.kind, score=a.score, raised_at=a.raised_at, amount=a.amount,
                                         body=_dumps(a.to_dict())))


def alerts_txn(conn: Connection, tenant: str, case_id: str) -> list[Alert]:
    rows = conn.execute(select(t.alerts.c.body).where(t.alerts.c.tenant == tenant, t.alerts.c.case_id == case_id)
                        .order_by(t.alerts.c.raised_at, t.alerts.c.alert_id))
    return [Alert.from_dict(json.loads(r[0])) for r in rows]


def alert_volume_txn(conn: Connection, tenant: str) -> list[tuple[float, str]]:
    rows = conn.execute(select(t.alerts.c.raised_at, t.alerts.c.source).where(t.alerts.c.tenant == tenant))
    return [(float(r[0]), str(r[1])) for r in rows]


def add_entities_txn(conn: Connection, tenant: str, case_id: str, pairs: set[tuple[str, str]]) -> None:
    existing = set(entities_txn(conn, tenant, case_id))
    new = sorted(pairs - existing)
    if new:
        conn.execute(insert(t.entities), [{"tenant": tenant, "case_id": case_id, "kind": k, "key": v} for k, v in new])


def entities_txn(conn: Connection, tenant: str, case_id: str) -> list[tuple[str, str]]:
    rows = conn.execute(select(t.entities.c.kind, t.entities.c.key).where(
        t.entities.c.tenant == tenant, t.entities.c.case_id == case_id).order_by(t.entities.c.kind, t.entities.c.key))
    return [(str(r[0]), str(r[1])) for r in rows]


# -- history (the case timeline) -------------------------------------------------------------------

def add_history_txn(conn: Connection, tenant: str, case_id: str, at: float, actor: str, kind: str,
                    body: dict[str, Any]) -> None:
    conn.execute(insert(t.history).values(tenant=tenant, case_id=case_id, at=at, actor=actor, kind=kind,
                                          body=_dumps(body)))


def history_txn(conn: Connection, tenant: str, case_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(t.history).where(t.history.c.tenant == tenant, t.history.c.case_id == case_id)
                        .order_by(t.history.c.at, t.history.c.id))
    return [{"at": float(r.at), "actor": r.actor, "kind": r.kind, **json.loads(r.body)} for r in rows]


# -- attachments -----------------------------------------------------------------------------------

def insert_attachment_txn(conn: Connection, tenant: str, row: dict[str, Any]) -> None:
    conn.execute(insert(t.attachments).values(tenant=tenant, **row))


def attachments_txn(conn: Connection, tenant: str, case_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(t.attachments).where(t.attachments.c.tenant == tenant,
                                                    t.attachments.c.case_id == case_id)
                        .order_by(t.attachments.c.added_at))
    return [{k: getattr(r, k) for k in ("attachment_id", "name", "media_type", "sha256", "size", "evidence_seq",
                                        "added_by", "added_at")} for r in rows]


# -- account actions -------------------------------------------------------------------------------

def _request(body: str) -> ActionRequest:
    return ActionRequest(**json.loads(body))


def _request_body(r: ActionRequest) -> str:
    return _dumps({k: getattr(r, k) for k in ActionRequest.__dataclass_fields__})


def insert_action_txn(conn: Connection, r: ActionRequest) -> None:
    conn.execute(insert(t.actions).values(action_id=r.action_id, tenant=r.tenant, body=_request_body(r),
                                          status=r.status, case_id=r.case_id, requested_at=r.requested_at))


def update_action_txn(conn: Connection, r: ActionRequest, expected_status: str) -> bool:
    res = conn.execute(update(t.actions).where(
        t.actions.c.tenant == r.tenant, t.actions.c.action_id == r.action_id, t.actions.c.status == expected_status)
        .values(body=_request_body(r), status=r.status))
    return res.rowcount == 1


def action_txn(conn: Connection, tenant: str, action_id: str) -> ActionRequest | None:
    row = conn.execute(select(t.actions.c.body).where(t.actions.c.tenant == tenant,
                                                      t.actions.c.action_id == action_id)).first()
    return _request(row[0]) if row else None


def actions_txn(conn: Connection, tenant: str, case_id: str | None = None,
                status: str | None = None) -> list[ActionRequest]:
    q = select(t.actions.c.body).where(t.actions.c.tenant == tenant)
    if case_id is not None:
        q = q.where(t.actions.c.case_id == case_id)
    if status is not None:
        q = q.where(t.actions.c.status == status)
    return [_request(r[0]) for r in conn.execute(q.order_by(t.actions.c.requested_at))]


def set_state_txn(conn: Connection, tenant: str, kind: str, target: str, state: str, at: float,
                  action_id: str) -> None:
    where = and_(t.account_states.c.tenant == tenant, t.account_states.c.target_kind == kind,
                 t.account_states.c.target_id == target)
    if conn.execute(select(t.account_states.c.state).where(where)).first() is None:
        conn.execute(insert(t.account_states).values(tenant=tenant, target_kind=kind, target_id=target, state=state,
                                                     since=at, action_id=action_id))
    else:
        conn.execute(update(t.account_states).where(where).values(state=state, since=at, action_id=action_id))
    # Engines cache the restricted accounts: make them reload once this transaction is committed.
    event.listen(conn, "commit", lambda _conn: states_changed(), once=True)


def states_txn(conn: Connection, tenant: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(t.account_states).where(t.account_states.c.tenant == tenant)
                        .order_by(t.account_states.c.since))
    return [{"target_kind": r.target_kind, "target_id": r.target_id, "state": r.state, "since": r.since,
             "action_id": r.action_id} for r in rows]


# -- evidence --------------------------------------------------------------------------------------

def _item(r: Any) -> EvidenceItem:
    return EvidenceItem(r.case_id, int(r.seq), r.kind, r.name, r.media_type, r.content_sha256, int(r.size),
                        r.prev_hash, r.item_hash, r.added_by, r.added_at)


def evidence_head_txn(conn: Connection, tenant: str, case_id: str) -> EvidenceItem | None:
    row = conn.execute(select(t.evidence).where(t.evidence.c.tenant == tenant, t.evidence.c.case_id == case_id)
                       .order_by(t.evidence.c.seq.desc()).limit(1)).first()
    return _item(row) if row else None


def insert_evidence_txn(conn: Connection, tenant: str, item: EvidenceItem, content: bytes) -> None:
    conn.execute(insert(t.evidence).values(
        tenant=tenant, case_id=item.case_id, seq=item.seq, kind=item.kind, name=item.name,
        media_type=item.media_type, content=content, content_sha256=item.content_sha256, size=item.size,
        prev_hash=item.prev_hash, item_hash=item.item_hash, added_by=item.added_by, added_at=item.added_at))


def evidence_txn(conn: Connection, tenant: str, case_id: str,
                 with_content: bool = True) -> list[tuple[EvidenceItem, bytes]]:
    rows = conn.execute(select(t.evidence).where(t.evidence.c.tenant == tenant, t.evidence.c.case_id == case_id)
                        .order_by(t.evidence.c.seq))
    return [(_item(r), bytes(r.content) if with_content else b"") for r in rows]


def evidence_names_txn(conn: Connection, tenant: str, case_id: str) -> set[tuple[str, str]]:
    rows = conn.execute(select(t.evidence.c.kind, t.evidence.c.name).where(
        t.evidence.c.tenant == tenant, t.evidence.c.case_id == case_id))
    return {(str(r[0]), str(r[1])) for r in rows}


# -- notices ---------------------------------------------------------------------------------------

def insert_notice_txn(conn: Connection, tenant: str, notice_id: str, case_id: str | None, customer_id: str | None,
                      kind: str, body: dict[str, Any], at: float) -> None:
    conn.execute(insert(t.notices).values(notice_id=notice_id, tenant=tenant, case_id=case_id,
                                          customer_id=customer_id, kind=kind, body=_dumps(body), created_at=at))


def notices_txn(conn: Connection, tenant: str, case_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(t.notices).where(t.notices.c.tenant == tenant, t.notices.c.case_id == case_id)
                        .order_by(t.notices.c.created_at, t.notices.c.notice_id))
    return [{"notice_id": r.notice_id, "customer_id": r.customer_id, "kind": r.kind, "created_at": r.created_at,
             **json.loads(r.body)} for r in rows]


# -- disputes --------------------------------------------------------------------------------------

def insert_dispute_txn(conn: Connection, tenant: str, d: dict[str, Any]) -> None:
    conn.execute(insert(t.disputes).values(
        dispute_id=d["dispute_id"], tenant=tenant, case_id=d["case_id"], customer_id=d["customer_id"],
        account_id=d["account_id"], claimed=d["claimed"], currency=d["currency"], status=d["status"],
        body=_dumps(d), opened_at=d["opened_at"], updated_at=d["updated_at"]))


def update_dispute_txn(conn: Connection, tenant: str, d: dict[str, Any], expected_status: str) -> bool:
    res = conn.execute(update(t.disputes).where(
        t.disputes.c.tenant == tenant, t.disputes.c.dispute_id == d["dispute_id"],
        t.disputes.c.status == expected_status).values(status=d["status"], body=_dumps(d),
                                                       updated_at=d["updated_at"]))
    return res.rowcount == 1


def dispute_txn(conn: Connection, tenant: str, dispute_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(t.disputes.c.body).where(t.disputes.c.tenant == tenant,
                                                       t.disputes.c.dispute_id == dispute_id)).first()
    return dict(json.loads(row[0])) if row else None


def disputes_txn(conn: Connection, tenant: str, case_id: str | None = None) -> list[dict[str, Any]]:
    q = select(t.disputes.c.body).where(t.disputes.c.tenant == tenant)
    if case_id is not None:
        q = q.where(t.disputes.c.case_id == case_id)
    return [dict(json.loads(r[0])) for r in conn.execute(q.order_by(t.disputes.c.opened_at))]


# -- ledger ----------------------------------------------------------------------------------------

def insert_entry_txn(conn: Connection, tenant: str, e: Entry) -> None:
    conn.execute(insert(t.ledger_lines), [
        {"tenant": tenant, "entry_id": e.entry_id, "line": i, "kind": e.kind, "account": ln.account,
         "debit": ln.debit, "credit": ln.credit, "currency": e.currency, "at": e.at, "actor": e.actor,
         "memo": e.memo, "dispute_id": e.dispute_id, "case_id": e.case_id}
        for i, ln in enumerate(e.lines)])


def entries_txn(conn: Connection, tenant: str) -> list[Entry]:
    rows = conn.execute(select(t.ledger_lines).where(t.ledger_lines.c.tenant == tenant)
                        .order_by(t.ledger_lines.c.at, t.ledger_lines.c.entry_id, t.ledger_lines.c.line)).all()
    grouped: dict[str, list[Any]] = {}
    for r in rows:
        grouped.setdefault(r.entry_id, []).append(r)
    out = []
    for entry_id, lines in grouped.items():
        f = lines[0]
        out.append(Entry(entry_id, f.kind, tuple(Line(ln.account, int(ln.debit), int(ln.credit)) for ln in lines),
                         float(f.at), f.actor, f.memo, f.currency, f.dispute_id, f.case_id))
    out.sort(key=lambda e: (e.at, e.entry_id))
    return out


def balances_txn(conn: Connection, tenant: str) -> dict[str, int]:
    rows = conn.execute(select(t.ledger_lines.c.account, func.sum(t.ledger_lines.c.debit),
                               func.sum(t.ledger_lines.c.credit))
                        .where(t.ledger_lines.c.tenant == tenant).group_by(t.ledger_lines.c.account))
    return {str(a): int(d or 0) - int(c or 0) for a, d, c in rows}
