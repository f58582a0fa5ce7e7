"""Audit fixtures: a migrated database (SQLite file, and PostgreSQL in a schema of its own) and a
software key store holding the audit signing key."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from dunpai.core.db import make_engine
from dunpai.core.migrate import upgrade
from dunpai.core.services import port_open, services_required
from dunpai.keys import Argon2Params, KeyStore, open_keystore

TEST_ARGON2 = Argon2Params(time_cost=1, memory_cost_kib=1024, parallelism=1)
PASSPHRASE = "audit test passphrase"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_or_skip() -> None:
    if not port_open("127.0.0.1", 5432):
        if services_required():
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is required (DUNPAI_REQUIRE_SERVICES=1) "
                        "but unreachable")
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is unreachable")


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """An engine whose search_path is a fresh schema, dropped afterwards (parallel runs never collide)."""
    postgres_or_skip()
    schema = f"t_audit_{secrets.token_hex(6)}"
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


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def engine(request: pytest.FixtureRequest) -> Engine:
    result: Engine = request.getfixturevalue(f"{'pg' if request.param == 'postgresql' else 'sqlite'}_engine")
    upgrade(result, "audit@head")
    return result


@pytest.fixture
def keystore(tmp_path: Path) -> Iterator[KeyStore]:
    store = open_keystore("software", path=tmp_path / "keys.dpks", passphrase=PASSPHRASE, create=True,
                          argon2=TEST_ARGON2)
    store.generate("audit-signing", "ed25519")
    yield store
    store.close()
