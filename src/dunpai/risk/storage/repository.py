"""SQL access for the risk part. Functions named ``*_txn`` run inside a caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Select, bindparam, func, insert, select, text, update

from dunpai.core.db import driver_rows
from dunpai.risk.decisions.record import Decision
from dunpai.risk.storage.tables import api_keys, decisions, events, imports, rulesets


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    tenant: str
    event_id: str
    body: str
    body_sha256: str


@dataclass(frozen=True)
class RulesetRow:
    tenant: str
    version: str
    name: str
    status: str
    source: str
    created_by: str
    created_at: float
    published_at: float | None


# Statements on the hot path are built once; each call only binds parameters.
_FIND_EVENT = select(events.c.seq, events.c.tenant, events.c.event_id, events.c.body, events.c.body_sha256).where(
    events.c.tenant == bindparam("t"), events.c.event_id == bindparam("e"))
_INSERT_EVENTS = insert(events).returning(events.c.seq, sort_by_parameter_order=True)
_INSERT_DECISION = insert(decisions)


_FIND_EVENTS = select(events.c.seq, events.c.tenant, events.c.event_id, events.c.body, events.c.body_sha256).where(
    events.c.tenant == bindparam("t"), events.c.event_id.in_(bindparam("ids", expanding=True)))

# PostgreSQL (several workers on one database): one statement text whatever the batch's size (an
# array of ids, the rows as one JSON document), so the driver prepares each once per connection and
# neither it nor SQLAlchemy rebuilds SQL per batch; the events and their decisions go in one statement.
_PG_FIND_EVENTS = text(
    "SELECT seq, tenant, event_id, body, body_sha256 FROM risk_events "
    "WHERE tenant = :t AND event_id = ANY(CAST(:ids AS text[]))")
_PG_INSERT_CTES = (
    "WITH u AS (SELECT * FROM json_to_recordset(CAST(%(rows)s AS json)) AS x(n int, tenant text, event_id text, "
    "event_type text, event_time float8, body text, body_sha256 text, card_masked text, received_at float8, "
    "decision_id text, action text, score int, record text)), "
    "e AS (INSERT INTO risk_events (tenant, event_id, event_type, event_time, body, body_sha256, card_masked, "
    "received_at) SELECT tenant, event_id, event_type, event_time, body, body_sha256, card_masked, received_at "
    "FROM u ORDER BY n RETURNING seq, tenant, event_id), "
    "d AS (INSERT INTO risk_decisions (decision_id, tenant, event_id, seq, event_type, event_time, action, score, "
    "record) SELECT u.decision_id, u.tenant, u.event_id, e.seq, u.event_type, u.event_time, u.action, u.score, "
    "u.record FROM u JOIN e ON e.tenant = u.tenant AND e.event_id = u.event_id)")
_PG_INSERT = _PG_INSERT_CTES + " SELECT seq, tenant, event_id FROM e"  # noqa: S608 - fixed texts
# The same with the batch's new entity states (rows it locked: ``cluster.store``), so that a worker's
# batch takes one statement to write everything it decided.
_PG_STATES_CTE = (
    ", s AS (UPDATE risk_state AS r SET state = decode(v.v, 'hex') FROM json_to_recordset(CAST(%(states)s AS json)) "
    "AS v(k text, s text, v text) WHERE r.kind = v.k AND r.key = v.s)")
_PG_INSERT_WITH_STATES = _PG_INSERT_CTES + _PG_STATES_CTE + " SELECT seq, tenant, event_id FROM e"  # noqa: S608


def find_events_txn(conn: Connection, tenant: str, event_ids: list[str]) -> dict[str, StoredEvent]:
    """The logged events among ``event_ids`` (one query for a whole batch)."""
    if not event_ids:
        return {}
    query = _PG_FIND_EVENTS if conn.dialect.name == "postgresql" else _FIND_EVENTS
    rows = conn.execute(query, {"t": tenant, "ids": event_ids}).all()
    return {row[2]: StoredEvent(*row) for row in rows}


def find_event_txn(conn: Connection, tenant: str, event_id: str) -> StoredEvent | None:
    row = conn.execute(_FIND_EVENT, {"t": tenant, "e": event_id}).first()
    return StoredEvent(*row) if row else None


@dataclass(frozen=True)
class EventRow:
    tenant: str
    event_type: str
    event_time: float
    body: str
    body_sha256: str
    card_masked: str | None
    received_at: float
    decision: Decision


def insert_events_and_decisions_txn(conn: Connection, rows: list[EventRow], states: str | None = None) -> list[int]:
    """Append events to the log and their decisions, in order, with one statement each (group commit;
    on PostgreSQL one statement for both). Returns the events' log sequence numbers. ``states``
    (PostgreSQL): the batch's locked entity states to rewrite in the same statement, as
    ``cluster.store.LockedStates.pending_json`` gives them."""
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        return _insert_pg(conn, rows, states)
    if states is not None:
        raise ValueError("states are written with the events on PostgreSQL only")
    result = conn.execute(_INSERT_EVENTS, [{
        "tenant": r.tenant, "event_id": r.decision.event_id, "event_type": r.event_type, "event_time": r.event_time,
        "body": r.body, "body_sha256": r.body_sha256, "card_masked": r.card_masked, "received_at": r.received_at,
    } for r in rows])
    seqs = [int(row[0]) for row in result.all()]
    conn.execute(_INSERT_DECISION, [{
        "decision_id": r.decision.decision_id, "tenant": r.tenant, "event_id": r.decision.event_id, "seq": seq,
        "event_type": r.event_type, "event_time": r.event_time, "action": r.decision.action,
        "score": r.decision.score,
        "record": orjson.dumps(r.decision.to_dict()).decode(),  # compact UTF-8 JSON (hot path: orjson)
    } for r, seq in zip(rows, seqs, strict=True)])
    return seqs


def _insert_pg(conn: Connection, rows: list[EventRow], states: str | None) -> list[int]:
    # One JSON document for the batch: a driver's text array escapes every quote of every body in Python.
    params = {"rows": orjson.dumps([{
        "n": n, "tenant": r.tenant, "event_id": r.decision.event_id, "event_type": r.event_type,
        "event_time": r.event_time, "body": r.body, "body_sha256": r.body_sha256, "card_masked": r.card_masked,
        "received_at": r.received_at, "decision_id": r.decision.decision_id, "action": r.decision.action,
        "score": r.decision.score, "record": orjson.dumps(r.decision.to_dict()).decode(),
    } for n, r in enumerate(rows)]).decode()}
    if states is not None:
        params["states"] = states
    got = driver_rows(conn, _PG_INSERT if states is None else _PG_INSERT_WITH_STATES, params)
    seq = {(tenant, event_id): int(logged) for logged, tenant, event_id in got}
    return [seq[(r.tenant, r.decision.event_id)] for r in rows]


_EVENT_COLUMNS = ("tenant", "event_id", "event_type", "event_time", "body", "body_sha256", "card_masked", "received_at")


def insert_events_txn(conn: Connection, rows: list[tuple[Any, ...]]) -> tuple[int, int] | None:
    """Append events that have no live decision (imported history), in order: one ``executemany``
    of plain tuples (``_EVENT_COLUMNS`` order) on the driver itself, no per-row statement work;
    the first and last log sequence numbers they got. The caller holds the log alone (an import)."""
    if not rows:
        return None
    mark = {"qmark": "?", "numeric": ":1", "named": ":p", "format": "%s", "pyformat": "%s"}[conn.dialect.paramstyle]
    marks = ", ".join(mark if mark != ":1" else f":{i + 1}" for i in range(len(_EVENT_COLUMNS)))
    sql = f"INSERT INTO {events.name} ({', '.join(_EVENT_COLUMNS)}) VALUES ({marks})"  # noqa: S608 - fixed names
    before = last_seq_txn(conn)
    conn.exec_driver_sql(sql, rows)
    return before + 1, last_seq_txn(conn)


def tenant_events(engine: Engine, tenant: str, after: int = 0, batch: int = 20_000,
                  until: int | None = None) -> Iterator[list[tuple[int, str]]]:
    """Batches of (seq, body) of one tenant's logged events after ``after``, in log order."""
    last = after
    while True:
        cond = [events.c.tenant == tenant, events.c.seq > last]
        if until is not None:
            cond.append(events.c.seq <= until)
        with engine.connect() as conn:
            rows = _raw_rows(conn, select(events.c.seq, events.c.body).where(*cond).order_by(events.c.seq)
                             .limit(batch))
        if not rows:
            return
        yield rows
        last = int(rows[-1][0])


def _raw_rows(conn: Connection, query: Select[Any]) -> list[Any]:
    """``query``'s rows as the driver gives them (tuples), without SQLAlchemy's row objects: an import
    reads its whole log back, and those cost three times the read itself."""
    compiled = query.compile(conn)
    params = compiled.params
    cursor = conn.connection.cursor()
    try:
        cursor.execute(str(compiled), [params[k] for k in compiled.positiontup] if compiled.positiontup else params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def last_seq_txn(conn: Connection, tenant: str | None = None) -> int:
    q = select(func.max(events.c.seq))
    if tenant is not None:
        q = q.where(events.c.tenant == tenant)
    return int(conn.execute(q).scalar() or 0)


def label_bodies(engine: Engine, tenant: str) -> list[str]:
    """Bodies of the tenant's label events, in log order."""
    with engine.connect() as conn:
        rows = conn.execute(select(events.c.body).where(events.c.tenant == tenant, events.c.event_type == "label")
                            .order_by(events.c.seq)).all()
    return [r[0] for r in rows]


def import_run_txn(conn: Connection, import_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(imports).where(imports.c.import_id == import_id)).mappings().first()
    return dict(row) if row else None


def save_import_run_txn(conn: Connection, run: dict[str, Any]) -> None:
    exists = conn.execute(select(imports.c.import_id).where(imports.c.import_id == run["import_id"])).first()
    if exists:
        conn.execute(update(imports).where(imports.c.import_id == run["import_id"]).values(**run))
    else:
        conn.execute(insert(imports).values(**run))


def decision_by_event_txn(conn: Connection, tenant: str, event_id: str) -> Decision | None:
    row = conn.execute(select(decisions.c.record).where(decisions.c.tenant == tenant,
                                                        decisions.c.event_id == event_id)).first()
    return Decision.from_dict(json.loads(row[0])) if row else None


def decision_by_id_txn(conn: Connection, tenant: str, decision_id: str) -> Decision | None:
    row = conn.execute(select(decisions.c.record).where(decisions.c.tenant == tenant,
                                                        decisions.c.decision_id == decision_id)).first()
    return Decision.from_dict(json.loads(row[0])) if row else None


def event_body_txn(conn: Connection, tenant: str, event_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(events.c.body).where(events.c.tenant == tenant, events.c.event_id == event_id)).first()
    return dict(json.loads(row[0])) if row else None


def events_after(engine: Engine, seq: int, batch: int = 5000) -> Iterator[tuple[int, str, str]]:
    """(seq, tenant, body) of every logged event after ``seq``, in log order."""
    last = seq
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                select(events.c.seq, events.c.tenant, events.c.body).where(events.c.seq > last)
                .order_by(events.c.seq).limit(batch)
            ).all()
        if not rows:
            return
        for row in rows:
            yield int(row[0]), row[1], row[2]
        last = int(rows[-1][0])


# -- rulesets --------------------------------------------------------------------------------------

def _ruleset(row: Any) -> RulesetRow:
    return RulesetRow(row.tenant, row.version, row.name, row.status, row.source, row.created_by,
                      row.created_at, row.published_at)


def rulesets_txn(conn: Connection, tenant: str) -> list[RulesetRow]:
    rows = conn.execute(select(rulesets).where(rulesets.c.tenant == tenant).order_by(rulesets.c.created_at)).all()
    return [_ruleset(r) for r in rows]


def ruleset_txn(conn: Connection, tenant: str, version: str) -> RulesetRow | None:
    row = conn.execute(select(rulesets).where(rulesets.c.tenant == tenant, rulesets.c.version == version)).first()
    return _ruleset(row) if row else None


def published_ruleset_txn(conn: Connection, tenant: str) -> RulesetRow | None:
    row = conn.execute(select(rulesets).where(rulesets.c.tenant == tenant, rulesets.c.status == "published")).first()
    return _ruleset(row) if row else None


def insert_ruleset_txn(conn: Connection, row: RulesetRow) -> None:
    conn.execute(insert(rulesets).values(**row.__dict__))


def publish_ruleset_txn(conn: Connection, tenant: str, version: str, at: float) -> None:
    conn.execute(update(rulesets).where(rulesets.c.tenant == tenant, rulesets.c.status == "published")
                 .values(status="retired"))
    conn.execute(update(rulesets).where(rulesets.c.tenant == tenant, rulesets.c.version == version)
                 .values(status="published", published_at=at))


# -- API keys --------------------------------------------------------------------------------------

def insert_api_key_txn(conn: Connection, key_sha256: str, name: str, role: str, tenant: str, at: float) -> None:
    conn.execute(insert(api_keys).values(key_sha256=key_sha256, name=name, role=role, tenant=tenant, created_at=at))


def api_keys_txn(conn: Connection) -> list[Any]:
    """Every stored key (digest, name, role, tenant, created_at, revoked_at), oldest first."""
    return list(conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_sha256)))


def revoke_api_key_txn(conn: Connection, key_sha256: str, at: float) -> bool:
    """Revoke one key; False when it was revoked already."""
    done = conn.execute(update(api_keys).where(api_keys.c.key_sha256 == key_sha256, api_keys.c.revoked_at.is_(None))
                        .values(revoked_at=at))
    return bool(done.rowcount)


def api_key_txn(conn: Connection, key_sha256: str) -> tuple[str, str, str] | None:
    row = conn.execute(select(api_keys.c.name, api_keys.c.role, api_keys.c.tenant)
                       .where(api_keys.c.key_sha256 == key_sha256, api_keys.c.revoked_at.is_(None))).first()
    return (row[0], row[1], row[2]) if row else None
