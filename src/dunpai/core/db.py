"""Database plumbing shared by every part: one SQLAlchemy ``MetaData``, engine creation, schema set-up.

Each package declares its tables on :data:`metadata` (module ``tables.py`` of that package) and
registers the module in :data:`TABLE_MODULES`, so that schema creation and Alembic see every table.
SQLite is the embedded default (WAL, foreign keys on); PostgreSQL is the production backend.
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event

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
    "dunpai.risk.shield.tables",
    "dunpai.risk.compromise.tables",
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


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL and foreign keys, PostgreSQL uses psycopg 3."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def init_schema(engine: Engine) -> None:
    """Bring the schema up to date through the Alembic migrations."""
    from dunpai.core.migrate import upgrade

    upgrade(engine)
