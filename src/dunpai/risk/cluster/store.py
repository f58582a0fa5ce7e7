"""Online state shared by several decision workers: a row per entity in the decision database.

Why rows and not Redis: a decision is accepted when its event row and its decision row commit, and
with the state rows in the same transaction the three commit or vanish together. Each batch locks
its entities' rows (``INSERT … ON CONFLICT DO UPDATE … RETURNING``: one statement that makes a
missing row and locks an existing one) in sorted key order before deciding, so two workers deciding
events of one card take turns on that card's row instead of overwriting each other's update, and no
two batches can wait on each other in a circle. The event log's unique event id makes each event
decided once: a worker that lost the race rolls back its states with its rows. Keys that events of
one entity share are locked in the order their events are logged, so replaying the log in ``seq``
order on one process gives the same features and decisions (measured in ``bench/scale_bench.py``,
shown by ``tests/risk/test_cluster.py``).
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, delete, func, select, text, tuple_
from sqlalchemy.dialects import sqlite

from dunpai.core.db import driver_rows
from dunpai.risk.cluster.tables import states
from dunpai.risk.features.store import StateKey
from dunpai.risk.storage.tables import events

APPLIED_MARK: StateKey = ("__meta__", "complete")
"""Written when the table holds the state of the whole log (after a rebuild from it); without it the
store reports ``applied_seq`` 0 and the service folds the log in."""

_LOCK_CHUNK = 500  # keys per statement (bind parameters stay well below every driver's limit)


def _state(raw: bytes | None) -> array[float] | None:
    if raw is None:
        return None
    state = array("d")
    state.frombytes(raw)
    return state


# PostgreSQL: one statement text whatever the number of keys (the rows as one JSON document, not a
# VALUES list), so the driver prepares it once per connection; the lock runs on the driver's cursor
# (``driver_rows``: a batch's first statement, on every batch).
_PG_LOCK = (
    "INSERT INTO risk_state (kind, key) SELECT k, s FROM json_to_recordset(CAST(%(rows)s AS json)) "
    "AS u(k text, s text, n int) ORDER BY n ON CONFLICT (kind, key) DO UPDATE SET kind = EXCLUDED.kind "
    "RETURNING kind, key, state")
_PG_WRITE = text(
    "INSERT INTO risk_state (kind, key, state) SELECT k, s, decode(v, 'hex') "
    "FROM json_to_recordset(CAST(:rows AS json)) AS u(k text, s text, v text, n int) ORDER BY n "
    "ON CONFLICT (kind, key) DO UPDATE SET state = EXCLUDED.state")


def _pg_rows(rows: list[dict[str, Any]], states: bool) -> str:
    """The rows as one JSON document (states in hex): a driver's text and bytea arrays escape every
    element in Python, where one JSON text is written in C."""
    return orjson.dumps([{"k": r["kind"], "s": r["key"], "n": n, **({"v": r["state"].hex()} if states else {})}
                         for n, r in enumerate(rows)]).decode()


def _upsert(conn: Connection, rows: list[dict[str, Any]], *, lock_only: bool) -> list[Any]:
    """Insert ``rows`` or, where the key exists, lock it (``lock_only``) or overwrite its state.
    Rows are taken in the order given; returns (kind, key, state) of each."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        if lock_only:
            return driver_rows(conn, _PG_LOCK, {"rows": _pg_rows(rows, states=False)})
        conn.execute(_PG_WRITE, {"rows": _pg_rows(rows, states=True)})
        return []
    if dialect == "sqlite":
        ins: Any = sqlite.insert(states)
    else:  # pragma: no cover - the project's databases are PostgreSQL and SQLite
        raise NotImplementedError(f"shared state needs PostgreSQL or SQLite, not {dialect}")
    # Locking an existing row is an update that changes nothing: the row lock is what is wanted.
    setting = {"kind": ins.excluded.kind} if lock_only else {"state": ins.excluded.state}
    stmt = ins.values(rows).on_conflict_do_update(index_elements=["kind", "key"], set_=setting)
    if lock_only:
        return list(conn.execute(stmt.returning(states.c.kind, states.c.key, states.c.state)))
    conn.execute(stmt)
    return []


class LockedStates:
    """The state store as one batch's transaction sees it: entity rows locked before they are read,
    states written by :meth:`write` inside the same transaction. The service wraps it per tenant."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.locked: dict[StateKey, array[float] | None] = {}
        self.pending: dict[StateKey, array[float]] = {}

    def lock(self, keys: Iterable[StateKey]) -> None:
        """Lock these entities' rows (made when missing) in sorted order and read their states."""
        wanted = sorted(set(keys).difference(self.locked))
        for start in range(0, len(wanted), _LOCK_CHUNK):
            chunk = wanted[start:start + _LOCK_CHUNK]
            rows = _upsert(self.conn, [{"kind": k, "key": key, "state": None} for k, key in chunk], lock_only=True)
            for kind, key, raw in rows:
                self.locked[(kind, key)] = _state(raw)

    def get_many(self, keys: Sequence[StateKey]) -> list[array[float] | None]:
        missing = [k for k in keys if k not in self.locked]
        if missing:  # a key the batch did not announce (a label's filled-in entity): lock it now
            self.lock(missing)
        pending, locked = self.pending, self.locked
        return [pending[k] if k in pending else locked[k] for k in keys]

    def put_many(self, items: Iterable[tuple[StateKey, array[float]]], applied_seq: int) -> None:
        self.pending.update(items)

    def _pending_rows(self) -> list[dict[str, Any]]:
        rows = [{"kind": k, "key": key, "state": s.tobytes()} for (k, key), s in sorted(self.pending.items())]
        unlocked = [(r["kind"], r["key"]) for r in rows if (r["kind"], r["key"]) not in self.locked]
        if unlocked:  # pragma: no cover - the pipeline writes only states it read (and so locked)
            raise RuntimeError(f"states written without their lock: {unlocked[:3]}")
        return rows

    def pending_json(self) -> str | None:
        """PostgreSQL: the batch's new states as one JSON document, for the statement that writes
        the batch's events and decisions (``repository.insert_events_and_decisions_txn``, its
        ``UPDATE`` of the rows this batch locked). ``None`` elsewhere: there :meth:`write` writes them."""
        if self.conn.dialect.name != "postgresql":
            return None
        return _pg_rows(self._pending_rows(), states=True)

    def write(self) -> None:
        """Write the batch's new states (before its transaction commits); every one is a row this
        batch locked."""
        rows = self._pending_rows()
        for start in range(0, len(rows), _LOCK_CHUNK):
            _upsert(self.conn, rows[start:start + _LOCK_CHUNK], lock_only=False)

    def applied_seq(self) -> int:
        return 0

    def count(self, kind: str) -> int:
        return int(self.conn.execute(select(func.count()).select_from(states).where(
            (states.c.kind == kind) & states.c.state.is_not(None))).scalar_one())

    def clear(self) -> None:
        raise NotImplementedError("a batch never clears the shared state")

    def close(self) -> None:
        pass


class SqlStateStore:
    """The :class:`~dunpai.risk.features.store.StateStore` port on the ``risk_state`` table.

    Outside a decision (crash recovery, a rebuild, counting) each call is its own transaction. The
    decision path goes through :meth:`in_transaction` instead, so states commit with their events;
    the log is then never ahead of the state, and ``applied_seq`` is the log's last ``seq`` as soon
    as the table was built from the whole log once (:data:`APPLIED_MARK`).
    """

    transactional = True

    def __init__(self, db: Engine) -> None:
        self.db = db

    def in_transaction(self, conn: Connection) -> LockedStates:
        return LockedStates(conn)

    def get_many(self, keys: Sequence[StateKey]) -> list[array[float] | None]:
        if not keys:
            return []
        found: dict[StateKey, bytes | None] = {}
        with self.db.connect() as conn:
            for start in range(0, len(keys), _LOCK_CHUNK):
                chunk = list(keys[start:start + _LOCK_CHUNK])
                for kind, key, raw in conn.execute(select(states.c.kind, states.c.key, states.c.state)
                                                   .where(tuple_(states.c.kind, states.c.key).in_(chunk))):
                    found[(kind, key)] = raw
        return [_state(found.get(k)) for k in keys]

    def put_many(self, items: Iterable[tuple[StateKey, array[float]]], applied_seq: int) -> None:
        rows = [{"kind": k, "key": key, "state": s.tobytes()} for (k, key), s in items]
        with self.db.begin() as conn:
            for start in range(0, len(rows), _LOCK_CHUNK):
                _upsert(conn, rows[start:start + _LOCK_CHUNK], lock_only=False)

    def mark_complete(self) -> None:
        """Record that the table now holds the state of the whole log."""
        self.put_many([(APPLIED_MARK, array("d", [1.0]))], 0)

    def complete(self) -> bool:
        """Whether the table holds the state of the whole log (then it stays so: every decision
        writes its states in its own transaction)."""
        with self.db.connect() as conn:
            return conn.execute(select(states.c.kind).where(
                (states.c.kind == APPLIED_MARK[0]) & (states.c.key == APPLIED_MARK[1]))).first() is not None

    def applied_seq(self) -> int:
        if not self.complete():
            return 0
        with self.db.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one())

    def count(self, kind: str) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(states).where(
                (states.c.kind == kind) & states.c.state.is_not(None))).scalar_one())

    def clear(self) -> None:
        with self.db.begin() as conn:
            conn.execute(delete(states))

    def close(self) -> None:
        pass

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold a database-wide lock named ``name`` while the block runs (PostgreSQL's session
        advisory lock; SQLite serialises writers already): one worker rebuilds or folds the log at
        a time, the others wait and then find the work done."""
        if self.db.dialect.name != "postgresql":
            yield
            return
        ident = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        with self.db.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": ident})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": ident})
                conn.commit()
