"""PII fixtures: a migrated database (SQLite, and PostgreSQL in its own schema), a key store with
the standard keys, the audit log, the vault and the one reveal service with a recording sink."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.pg import migrated_engine_fixture

from dunpai.audit import AuditLog
from dunpai.keys import Argon2Params, Envelope, KeyedTokenizer, KeyStore, ensure_standard_keys, open_keystore
from dunpai.risk.pii import PiiVault, RevealService, StaffDataAccess

engine = migrated_engine_fixture("t_pii", "audit@head", "pii@head")


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
