from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dunpai.api.app import create_app
from dunpai.api.auth import Authenticator, create_api_key
from dunpai.core.db import init_schema, make_engine
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.pan import HmacPanProtector
from dunpai.risk.service import RiskService

PAN = "6222021234567890"


def make_service(tmp: Path, url: str | None = None) -> RiskService:
    tmp.mkdir(parents=True, exist_ok=True)
    db = make_engine(url or f"sqlite:///{tmp / 'risk.db'}")
    init_schema(db)
    return RiskService(db, MemoryStore(tmp / "state.snapshot"), protector=HmacPanProtector(b"t" * 32),
                       clock=lambda: 1_700_000_000.0)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RiskService]:
    svc = make_service(tmp_path)
    yield svc
    svc.db.dispose()


class Api:
    def __init__(self, service: RiskService) -> None:
        self.service = service
        self.client = TestClient(create_app(service, Authenticator(service.db)))
        roles = ("integrator", "analyst", "supervisor", "admin")
        self.keys = {role: create_api_key(service.db, role, role) for role in roles}
        self.other_tenant = create_api_key(service.db, "other", "admin", tenant="other-bank")

    def h(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def post_event(self, body: dict[str, Any], role: str = "integrator") -> Any:
        return self.client.post("/v1/events", json=body, headers=self.h(role))


@pytest.fixture
def api(service: RiskService) -> Api:
    return Api(service)


def card_event(i: int = 1, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "card_present", "event_id": f"e-{i}", "event_time": "2026-03-12T10:00:00+08:00",
        "txn": "pos_purchase", "pan": PAN, "account_id": "acct-1", "customer_id": "cust-1", "terminal_id": "pos-1",
        "terminal_location": {"lat": 22.8, "lon": 108.3, "city": "南宁"}, "pos_entry_mode": "05",
        "amount": 12_000, "currency": "CNY",
    }
    body.update(over)
    return body
