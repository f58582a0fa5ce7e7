"""PII fixtures: a migrated database (SQLite, and PostgreSQL in its own schema), a key store with
the standard keys, the audit log, the vault and the one reveal service with a recording sink."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.pg import temporary_schema

from dunpai.audit import AuditLog
from dunpai.core.db import make_engine
from dunpai.core.migrate import upgrade
from dunpai.keys import Argon2Params, Envelope, KeyedTokenizer, KeyStore, ensure_standard_keys, open_keystore
from dunpai.risk.pii import PiiVault, RevealService, StaffDataAccess


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    with temporary_schema("t_pii") as engine:
        yield engine


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'pii.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def engine(request: pytest.FixtureRequest) -> Engine:
    result: Engine = request.getfixturevalue(f"{'pg' if request.param == 'postgresql' else 'sqlite'}_engine")
    upgrade(result, "audit@head")
    upgrade(result, "pii@head")
    return result


@pytest.fixture
def keystore(tmp_path: Path) -> Iterator[KeyStore]:
    store = open_keystore("software", path=tmp_path / "keys.dpks", passphrase="pii tests", create=True,
                          argon2=Argon2Params(time_cost=1, memory_cost_kib=1024, parallelism=1))
    ensure_standard_keys(store)
    yield store
    store.close()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@dataclass
class Pii:
    engine: Engine
    keystore: KeyStore
    audit: AuditLog
    envelope: Envelope
    vault: PiiVault
    reveal: RevealService
    accesses: list[StaffDataAccess] = field(default_factory=list)


@pytest.fixture
def pii(engine: Engine, keystore: KeyStore) -> Pii:
    clock = Clock()
    audit = AuditLog(engine, keystore, checkpoint_every=5, clock=clock)
    envelope = Envelope(keystore, "data-kek")
    vault = PiiVault(engine, envelope, KeyedTokenizer(keystore, "id-token", "idn"), audit, clock=clock)
    accesses: list[StaffDataAccess] = []
    service = RevealService(vault, envelope, audit, accesses.append, clock=clock)
    return Pii(engine, keystore, audit, envelope, vault, service, accesses)
