"""Audit fixtures: a migrated database (SQLite file, and PostgreSQL in a schema of its own) and a
software key store holding the audit signing key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.pg import migrated_engine_fixture

from dunpai.keys import Argon2Params, KeyStore, open_keystore

TEST_ARGON2 = Argon2Params(time_cost=1, memory_cost_kib=1024, parallelism=1)
PASSPHRASE = "audit test passphrase"

engine = migrated_engine_fixture("t_audit", "audit@head")


@pytest.fixture
def keystore(tmp_path: Path) -> Iterator[KeyStore]:
    store = open_keystore("software", path=tmp_path / "keys.dpks", passphrase=PASSPHRASE, create=True,
                          argon2=TEST_ARGON2)
    store.generate("audit-signing", "ed25519")
    yield store
    store.close()
