"""Reading a tenant's log back by position (the replay, the history, an import's second stage): its
events in log order, within the bounds asked, found through the (tenant, seq) index, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from dunpai.core.db import init_schema, make_engine
from dunpai.risk.storage import repository as repo
from dunpai.risk.storage.tables import events
from tests.pg import temporary_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
        init_schema(engine)
        yield engine
        engine.dispose()
        return
    with temporary_schema("log_read") as engine:
        init_schema(engine)
        yield engine


def _log(db: Engine, n: int) -> None:
    """``n`` events alternating between tenants ``a`` (odd seq) and ``b``."""
    with db.begin() as conn:
        conn.execute(events.insert(), [
            {"tenant": "b" if i % 2 else "a", "event_id": f"e{i}", "event_type": "card_present", "event_time": float(i),
             "body": f'{{"n": {i}}}', "body_sha256": "0" * 64, "received_at": 0.0} for i in range(n)])


def test_a_tenants_log_is_read_in_order_within_its_bounds(db: Engine) -> None:
    _log(db, 25)
    batches = list(repo.tenant_events(db, "a", after=3, batch=3, until=20))
    assert [len(b) for b in batches] == [3, 3, 2]
    rows = [row for b in batches for row in b]
    assert rows == [(seq, f'{{"n": {seq - 1}}}') for seq in range(5, 20, 2)]
    assert all(isinstance(seq, int) and isinstance(body, str) for seq, body in rows)
    assert list(repo.tenant_events(db, "a", after=25)) == []


def test_reading_after_a_position_uses_the_tenant_seq_index(tmp_path: Path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    init_schema(db)
    with db.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.execute(text(
            "EXPLAIN QUERY PLAN SELECT seq, body FROM risk_events WHERE tenant = 'a' AND seq > 5 "
            "ORDER BY seq LIMIT 10")))
    db.dispose()
    # not every event of the tenant found by (tenant, event_id) and sorted again for each batch
    assert "ix_risk_events_tenant_seq" in plan and "TEMP B-TREE" not in plan
