"""Inputs are gathered inside the batch's transaction: a batch that fails to commit leaves no trace,
the mobile-shield nonce it claimed included."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dunpai.core.db import init_schema, make_engine
from dunpai.keys import PanTokenizer
from dunpai.risk.events.schemas import MobileTransfer
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.service import RiskService
from dunpai.risk.shield import ShieldApp, ShieldEnricher, ShieldService
from dunpai.risk.shield.model import STATUS_CODES
from dunpai.risk.shield.sql import SqlShieldRepository
from dunpai.risk.storage import repository as repo

from .conftest import shared_keys


class DiskGone(RuntimeError):
    pass


def test_a_failed_batch_does_not_consume_the_shield_nonce(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'risk.db'}")
    init_schema(db)
    shield = ShieldService(SqlShieldRepository(db))
    service = RiskService(db, MemoryStore(), protector=PanTokenizer(shared_keys()),
                          enrichers=(ShieldEnricher(shield),))
    app = ShieldApp("cust-1", "phone-1")
    shield.enrol(app.enrolment_request("c"), 0.0, "c")
    transfer = app.signed(MobileTransfer(
        event_id="t-1", event_time=datetime(2026, 3, 1, 12, tzinfo=UTC), account_id="acct-1", customer_id="cust-1",
        device_id="phone-1", payee_id="payee-1", amount=Decimal(10_000), currency="CNY"))
    body: dict[str, Any] = json.loads(transfer.model_dump_json(exclude_none=True))
    insert = repo.insert_events_and_decisions_txn

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise DiskGone("the commit failed")

    monkeypatch.setattr(repo, "insert_events_and_decisions_txn", failing)
    with pytest.raises(DiskGone):
        service.submit("default", body)
    monkeypatch.setattr(repo, "insert_events_and_decisions_txn", insert)
    # The app sends the confirmed transfer again under a new request id: the signature was never used.
    again = service.submit("default", {**body, "event_id": "t-2"}).decision
    assert again.features["shield_status"] == STATUS_CODES["valid"]
    replay = service.submit("default", {**body, "event_id": "t-3"}).decision
    assert replay.features["shield_status"] == STATUS_CODES["replayed"]
