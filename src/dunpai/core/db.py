"""Database plumbing shared by every part: one SQLAlchemy ``MetaData``, engine creation, schema set-up.

Each package declares its tables on :data:`metadata` (module ``tables.py`` of that package) and
registers the module in :data:`TABLE_MODULES`, so that schema creation and Alembic see every table.
SQLite is the embedded default (WAL, foreign keys on; the file and its WAL mode 0600); PostgreSQL is
the production backend.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError

from dunpai.core.files import private_file

log = logging.getLogger(__name__)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# Modules whose import declares tables on ``metadata``. Add yours here.
TABLE_MODULES: list[str] = [
    "dunpai.audit.tables",
    "dunpai.risk.pii.tables",
    "dunpai.risk.storage.tables",
    "dunpai.risk.cases.tables",
    "dunpai.risk.cases.signin_tables",
    "dunpai.risk.shield.tables",
    "dunpai.risk.compromise.tables",
    "dunpai.risk.cluster.tables",
]


def load_table_modules() -> MetaData:
    for name in TABLE_MODULES:
        importlib.import_module(name)
    return metadata


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


IDLE_PING_S = 1.0
"""A pooled server connection that sat unused this long is pinged before it is handed out, so that
a database restarted or failed over meanwhile is found before a request meets it. One in steady use
is not: under load the ping (begin, ``SELECT 1``, end) was three of a worker batch's seven round
trips. A connection that breaks in use fails that request (its caller resends, as after any
failover) and SQLAlchemy then discards every connection the pool held."""


def _mark_returned(_dbapi_connection: Any, record: Any, *_rest: Any) -> None:
    record.info["returned"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    if time.monotonic() - record.info.get("returned", 0.0) < IDLE_PING_S:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.rollback()
    except Exception as exc:  # any failure: this connection is gone, the pool opens another
        raise DisconnectionError(f"pooled connection unusable: {type(exc).__name__}") from exc


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL and foreign keys, PostgreSQL uses psycopg 3 and
    pings a pooled connection only after it sat idle (``IDLE_PING_S``)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(url)
    if engine.dialect.name != "sqlite":
        event.listen(engine, "connect", _mark_returned)
        event.listen(engine, "checkin", _mark_returned)
        event.listen(engine, "checkout", _ping_if_idle)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        if engine.url.database not in (None, "", ":memory:") and not str(engine.url.database).startswith("file:"):
            # 0600 before SQLite opens it: its WAL and shared-memory files take the database's mode
            private_file(Path(str(engine.url.database)))
    return engine


def driver_rows(conn: Connection, sql: str, params: Mapping[str, Any]) -> list[Any]:
    """Run one fixed statement (the driver's own ``%(name)s`` placeholders) on the driver's cursor
    inside ``conn``'s transaction and return its rows as tuples: PostgreSQL's hot path, without
    SQLAlchemy's per-statement compile and result work. The statement is prepared once per
    connection. Errors are raised as SQLAlchemy's (``IntegrityError``, ``OperationalError``), as
    ``conn.execute`` raises them, naming the statement but never its parameters."""
    base = conn.dialect.loaded_dbapi.Error
    cursor: Any = conn.connection.cursor()
    try:
        cursor.execute(sql, params, prepare=True)
        return list(cursor.fetchall()) if cursor.description is not None else []
    except base as exc:
        raise DBAPIError.instance(sql, None, exc, base, dialect=conn.dialect) from exc
    finally:
        cursor.close()


class WalCheckpointer:
    """Takes SQLite's WAL checkpoints off the request path (what a server wants; a short CLI run
    does not need it). The engine's connections stop checkpointing inside their commits — which
    otherwise copy pages back into the database and fsync it every thousand pages, a latency
    spike for whichever request commits then — and a daemon thread checkpoints every
    ``interval`` seconds on its own connection (SQLite works without the GIL, so it runs beside
    the event loop). ``stop`` checkpoints what is left. No-op for other databases."""

    def __init__(self, engine: Engine, interval: float = 0.5) -> None:
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
            return
        event.listen(engine, "connect", _no_autocheckpoint)
        engine.dispose()  # pooled connections reconnect with the setting
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def checkpoint(self) -> tuple[int, int]:
        """One passive checkpoint: (frames in the WAL, frames checkpointed)."""
        with self.engine.connect() as conn:
            _busy, frames, done = conn.execute(text("PRAGMA wal_checkpoint(PASSIVE)")).one()
        return int(frames), int(done)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.checkpoint()
            except Exception:  # a failed round is retried on the next tick; commits never wait on it
                log.warning("WAL checkpoint failed", exc_info=True)

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        event.remove(self.engine, "connect", _no_autocheckpoint)
        self.checkpoint()


def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")


def init_schema(engine: Engine) -> None:
    """Bring the schema up to date through the Alembic migrations."""
    from dunpai.core.migrate import upgrade

    upgrade(engine)
