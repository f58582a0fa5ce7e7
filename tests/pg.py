"""A PostgreSQL database for one test: a fresh schema on the local server, dropped afterwards, so
parallel runs never collide. Skips when the server is absent, fails when CI requires it."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from dunpai.core.db import make_engine
from dunpai.core.migrate import upgrade
from tests.services import port_open, services_required

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_or_skip() -> None:
    if not port_open("127.0.0.1", 5432):
        if services_required():
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is required (DUNPAI_REQUIRE_SERVICES=1) but unreachable")
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is unreachable")


@contextmanager
def temporary_schema(prefix: str) -> Iterator[Engine]:
    postgres_or_skip()
    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def migrated_engine_fixture(schema_prefix: str, *heads: str) -> Callable[..., Iterator[Engine]]:
    """An ``engine`` fixture run twice: on a SQLite file and on PostgreSQL (a schema of its own), each
    migrated to ``heads``."""

    @pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
    def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
        if request.param == "postgresql":
            with temporary_schema(schema_prefix) as pg:
                for head in heads:
                    upgrade(pg, head)
                yield pg
            return
        lite = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
        for head in heads:
            upgrade(lite, head)
        yield lite
        lite.dispose()

    return engine
