"""The nonce claim joins the decision batch's transaction (SQLite and PostgreSQL): rolled back with
the batch it leaves the nonce free; a second claim of a held nonce in the same transaction finds the
holder without aborting the transaction (PostgreSQL aborts a transaction on a failed insert)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from dunpai.core.db import make_engine
from dunpai.core.migrate import upgrade
from dunpai.risk.shield.sql import SqlShieldRepository
from dunpai.risk.shield.tables import shield_nonces
from tests.pg import temporary_schema


class Rollback(Exception):
    pass


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'shield.db'}")
        upgrade(engine, "shield@head")
        yield engine
        engine.dispose()
        return
    with temporary_schema("shield_nonce") as engine:
        upgrade(engine, "shield@head")
        yield engine


def test_a_rolled_back_batch_leaves_the_nonce_unclaimed(db: Engine) -> None:
    repo = SqlShieldRepository(db)
    with pytest.raises(Rollback), db.begin() as conn:
        assert repo.claim_nonce("k1", "n1", "ev-1", 10.0, conn) == "ev-1"
        raise Rollback
    assert repo.claim_nonce("k1", "n1", "ev-2", 11.0) == "ev-2"


def test_a_held_nonce_claimed_again_in_the_batch_names_its_holder_and_the_batch_commits(db: Engine) -> None:
    repo = SqlShieldRepository(db)
    with db.begin() as conn:
        assert repo.claim_nonce("k1", "n1", "ev-1", 10.0, conn) == "ev-1"
        assert repo.claim_nonce("k1", "n1", "ev-2", 10.0, conn) == "ev-1"  # a replay inside the batch
        assert repo.claim_nonce("k1", "n1", "ev-1", 10.0, conn) == "ev-1"  # the same event: idempotent
        assert repo.claim_nonce("k1", "n2", "ev-3", 10.0, conn) == "ev-3"  # the transaction still works
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(shield_nonces)).scalar_one() == 2
    assert repo.claim_nonce("k1", "n2", "ev-4", 12.0) == "ev-3"
