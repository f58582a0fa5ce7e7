"""Schema versioning for the comms database, run programmatically at service start.

The comms service keeps its own version table (``comms_schema_version``), separate from the risk
database's Alembic history. Each migration is a numbered function; ``upgrade`` applies, in order and
each in its own transaction, those not yet recorded. A database newer than this code is refused.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, func, insert, inspect, select

from dunpai.comms.errors import CommsError
from dunpai.comms.server import tables as t


def _v1_initial(conn: Connection) -> None:
    t.metadata.create_all(conn, tables=[tb for tb in t.metadata.sorted_tables if tb is not t.schema_version])


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [(1, _v1_initial)]
LATEST = MIGRATIONS[-1][0]


def current_version(conn: Connection, schema: str | None = None) -> int:
    if not inspect(conn).has_table(t.schema_version.name, schema=schema):
        return 0
    return int(conn.execute(select(func.coalesce(func.max(t.schema_version.c.version), 0))).scalar_one())


def upgrade(engine: Engine, now: float, schema: str | None = None) -> int:
    """Bring the schema to ``LATEST``; returns the version reached."""
    with engine.begin() as conn:
        t.schema_version.create(conn, checkfirst=True)
        version = current_version(conn, schema)
    if version > LATEST:
        raise CommsError(f"comms database schema {version} is newer than this software ({LATEST})")
    for number, step in MIGRATIONS:
        if number <= version:
            continue
        with engine.begin() as conn:
            step(conn)
            conn.execute(insert(t.schema_version).values(version=number, applied_at=now))
    return LATEST
