"""Read-only look-ups in the risk part's event log and decisions (the adapter case management uses
to gather evidence, draw the case map and graph, and feed the dashboards). Nothing here writes.

Events are stored as canonical JSON (no spaces), so an entity's events are found by the exact
``"customer_id":"..."`` text within a time window; the window keeps the scan bounded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, select

from dunpai.risk.decisions.record import Decision
from dunpai.risk.storage.tables import decisions, events


def events_by_id_txn(conn: Connection, tenant: str, event_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    ids = sorted(set(event_ids))
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), 500):
        rows = conn.execute(select(events.c.event_id, events.c.body, events.c.card_masked).where(
            events.c.tenant == tenant, events.c.event_id.in_(ids[i:i + 500])))
        for eid, body, masked in rows:
            d = dict(json.loads(body))
            if masked:
                d["card_masked"] = masked
            out[eid] = d
    return out


def decisions_by_event_txn(conn: Connection, tenant: str, event_ids: Iterable[str]) -> dict[str, Decision]:
    ids = sorted(set(event_ids))
    out: dict[str, Decision] = {}
    for i in range(0, len(ids), 500):
        rows = conn.execute(select(decisions.c.event_id, decisions.c.record).where(
            decisions.c.tenant == tenant, decisions.c.event_id.in_(ids[i:i + 500])))
        for eid, record in rows:
            out[eid] = Decision.from_dict(json.loads(record))
    return out


MAX_ID = 128
"""The longest id an event may carry (``risk.events.schemas.Id``): a longer stored key names nothing."""
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")


def related_events_txn(conn: Connection, tenant: str, field: str, key: str, t0: float, t1: float,
                       limit: int = 500) -> list[dict[str, Any]]:
    """Events naming ``field == key`` with event time in [t0, t1], oldest first."""
    if len(key) > MAX_ID:  # no event can name it (and SQLite refuses so long a LIKE pattern)
        return []
    needle = json.dumps({field: key}, separators=(",", ":"), ensure_ascii=False)[1:-1]
    rows = conn.execute(
        select(events.c.body, events.c.card_masked).where(
            events.c.tenant == tenant, events.c.event_time >= t0, events.c.event_time <= t1,
            events.c.body.contains(needle, autoescape=True))
        .order_by(events.c.event_time, events.c.seq).limit(limit))
    out = []
    for body, masked in rows:
        d = dict(json.loads(body))
        if d.get(field) != key:
            continue
        if masked:
            d["card_masked"] = masked
        out.append(d)
    return out


def entity_events_txn(conn: Connection, tenant: str, field: str, key: str, offset: int = 0,
                      limit: int = 50) -> tuple[list[dict[str, Any]], bool]:
    """A page of the events naming ``field == key``, newest first, and whether older ones remain.
    (The log is scanned for the key's exact JSON text: bounded by the page, not by an index.)"""
    if len(key) > MAX_ID:
        return [], False
    needle = json.dumps({field: key}, separators=(",", ":"), ensure_ascii=False)[1:-1]
    rows = conn.execute(
        select(events.c.body, events.c.card_masked).where(
            events.c.tenant == tenant, events.c.body.contains(needle, autoescape=True))
        .order_by(events.c.event_time.desc(), events.c.seq.desc()).offset(offset).limit(limit + 1)).all()
    out = []
    for body, masked in rows[:limit]:
        d = dict(json.loads(body))
        if d.get(field) != key:
            continue
        if masked:
            d["card_masked"] = masked
        out.append(d)
    return out, len(rows) > limit


# Decisions on these event types are not transactions: the dashboards count them apart.
NOT_TRANSACTIONS = ("staff_access", "label")


def decision_records_txn(conn: Connection, tenant: str, since: float, limit: int = 50_000, *,
                         until: float | None = None,
                         exclude_types: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The most recent decisions in [``since``, ``until``): time, type, action, score and rule outcomes."""
    where = [decisions.c.tenant == tenant, decisions.c.event_time >= since]
    if until is not None:
        where.append(decisions.c.event_time < until)
    if exclude_types:
        where.append(decisions.c.event_type.not_in(exclude_types))
    rows = conn.execute(
        select(decisions.c.event_time, decisions.c.event_type, decisions.c.action, decisions.c.score,
               decisions.c.record)
        .where(*where).order_by(decisions.c.event_time.desc()).limit(limit))
    out = []
    for t, etype, action, score, record in rows:
        r = json.loads(record)
        out.append({"t": float(t), "event_type": etype, "action": action, "score": int(score),
                    "event_id": r["event_id"],
                    "hits": [x["rule_id"] for x in r["rule_results"] if x["outcome"] == "hit"],
                    "evaluated": [x["rule_id"] for x in r["rule_results"]],
                    "model_probability": r.get("model_probability"), "model_version": r.get("model_version")})
    out.reverse()
    return out


def latest_decision_time_txn(conn: Connection, tenant: str, exclude_types: tuple[str, ...] = ()) -> float | None:
    q = select(decisions.c.event_time).where(decisions.c.tenant == tenant)
    if exclude_types:
        q = q.where(decisions.c.event_type.not_in(exclude_types))
    row = conn.execute(q.order_by(decisions.c.event_time.desc()).limit(1)).first()
    return float(row[0]) if row else None


def action_counts_txn(conn: Connection, tenant: str, since: float, until: float,
                      exclude_types: tuple[str, ...] = ()) -> dict[str, int]:
    """How many decisions in [``since``, ``until``) took each action (exact, counted in SQL)."""
    q = select(decisions.c.action, func.count()).where(
        decisions.c.tenant == tenant, decisions.c.event_time >= since, decisions.c.event_time < until)
    if exclude_types:
        q = q.where(decisions.c.event_type.not_in(exclude_types))
    return {str(a): int(n) for a, n in conn.execute(q.group_by(decisions.c.action))}


def decision_count_txn(conn: Connection, tenant: str, event_type: str, since: float, until: float) -> int:
    row = conn.execute(select(func.count()).select_from(decisions).where(
        decisions.c.tenant == tenant, decisions.c.event_type == event_type, decisions.c.event_time >= since,
        decisions.c.event_time < until)).first()
    return int(row[0]) if row else 0


def label_events_txn(conn: Connection, tenant: str) -> dict[str, bool]:
    """Target event id -> fraud, from the label events in the log (the latest label wins)."""
    rows = conn.execute(select(events.c.body).where(events.c.tenant == tenant, events.c.event_type == "label")
                        .order_by(events.c.seq))
    out: dict[str, bool] = {}
    for (body,) in rows:
        d = json.loads(body)
        out[d["target_event_id"]] = bool(d["fraud"])
    return out
