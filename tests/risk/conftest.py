from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from dunpai.api.app import create_app
from dunpai.api.auth import Authenticator, create_api_key
from dunpai.audit import AuditLog
from dunpai.core.db import init_schema, make_engine
from dunpai.keys import Argon2Params, KeyStore, PanTokenizer, ensure_standard_keys, open_keystore
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.service import RiskService

PAN = "6222021234567890"


_KEYS: list[KeyStore] = []


def shared_keys() -> KeyStore:
    """One software key store for the whole run (cheap Argon2 parameters: tests only), so that
    services built in one test tokenise card numbers alike."""
    if not _KEYS:
        path = Path(tempfile.mkdtemp(prefix="dunpai-test-keys-")) / "keys.dpks"
        store = open_keystore("software", path=path, passphrase="test-only", create=True,
                              argon2=Argon2Params(time_cost=1, memory_cost_kib=64, parallelism=1))
        ensure_standard_keys(store)
        _KEYS.append(store)
    return _KEYS[0]


def make_service(tmp: Path, url: str | None = None) -> RiskService:
    tmp.mkdir(parents=True, exist_ok=True)
    db = make_engine(url or f"sqlite:///{tmp / 'risk.db'}")
    init_schema(db)
    keys = shared_keys()
    return RiskService(db, MemoryStore(tmp / "state.snapshot"), protector=PanTokenizer(keys),
                       audit=AuditLog(db, keys), clock=lambda: 1_700_000_000.0)


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

    def counts(self) -> tuple[int, int]:
        """Rows in the event log and in the decisions table."""
        with self.service.db.connect() as conn:
            return (int(conn.execute(text("SELECT count(*) FROM risk_events")).scalar_one()),
                    int(conn.execute(text("SELECT count(*) FROM risk_decisions")).scalar_one()))

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
