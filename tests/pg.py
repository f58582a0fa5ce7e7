"""A PostgreSQL database for one test: a fresh schema on the local server, dropped afterwards, so
parallel runs never collide. Skips when the server is absent, fails when CI requires it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, text

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
