"""Shield fixtures: every repository contract test runs against memory and SQLite (via the migration)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dunpai.core.db import make_engine
from dunpai.core.migrate import upgrade
from dunpai.risk.events.schemas import MobileTransfer
from dunpai.risk.shield import MemoryShieldRepository, ShieldRepository
from dunpai.risk.shield.sql import SqlShieldRepository

from .helpers import T0


@pytest.fixture(params=["memory", "sqlite"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ShieldRepository]:
    if request.param == "memory":
        yield MemoryShieldRepository()
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'shield.db'}")
    upgrade(engine, "shield@head")
    yield SqlShieldRepository(engine)
    engine.dispose()


@pytest.fixture
def transfer() -> Callable[..., MobileTransfer]:
    def make(event_id: str = "ev-1", when: datetime = T0 + timedelta(days=30), **kw: Any) -> MobileTransfer:
        base: dict[str, Any] = dict(
            event_id=event_id, event_time=when, account_id="acct-1", customer_id="cust-1", device_id="dev-1",
            payee_id="payee-9", payee_name="张三", amount=1_790_000, currency="CNY",
        )
        base.update(kw)
        return MobileTransfer(**base)

    return make
