"""Audit fixtures: a migrated database (SQLite file, and PostgreSQL in a schema of its own) and a
software key store holding the audit signing key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.pg import temporary_schema

from dunpai.core.db import make_engine
from dunpai.core.migrate import upgrade
from dunpai.keys import Argon2Params, KeyStore, open_keystore

TEST_ARGON2 = Argon2Params(time_cost=1, memory_cost_kib=1024, parallelism=1)
PASSPHRASE = "audit test passphrase"




@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    with temporary_schema("t_audit") as engine:
        yield engine


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
