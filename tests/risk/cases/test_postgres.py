"""Incident response on PostgreSQL (the production backend): cases, dual control and the engine's
refusal, the evidence chain and bundle, the reserve and its advisory lock — for real."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from dunpai.audit import AuditLog
from dunpai.core.db import init_schema, make_engine
from dunpai.core.errors import Forbidden
from dunpai.keys import KeyStore, PanTokenizer
from dunpai.risk.cases import AccountStates, Incidents, KeyStoreSigner, verify_bundle
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.scenarios.source_cases import demo_events
from dunpai.risk.service import RiskService
from tests.risk.cases.conftest import ANALYST, S1_ACCOUNT, S1_CUSTOMER, SUPERVISOR, SUPERVISOR2, StepClock
from tests.risk.conftest import shared_keys
from tests.services import port_open, services_required

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_risk() -> Iterator[RiskService]:
    if not port_open("127.0.0.1", 5432):
        if services_required():
            pytest.fail("PostgreSQL is required (DUNPAI_REQUIRE_SERVICES=1) but 127.0.0.1:5432 is closed")
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
    schema = f"dunpai_cases_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = make_engine(f"{PG}?options=-csearch_path%3D{schema}")
    init_schema(db)
    risk = RiskService(db, MemoryStore(), protector=PanTokenizer(shared_keys()), accounts=AccountStates(db))
    try:
        yield risk
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.services
def test_incident_flow_on_postgres(pg_risk: RiskService, keystore: KeyStore, tmp_path: Path) -> None:
    assert pg_risk.db.dialect.name == "postgresql"
    for body, _, _ in demo_events(7, 12, history_days=3):
        pg_risk.submit("default", body)
    inc = Incidents.for_risk(pg_risk, AuditLog(pg_risk.db, keystore), signer=KeyStoreSigner(keystore),
                             clock=StepClock())
    inc.cases.sync_from_log("default")
    cid = next(c.case_id for c in inc.cases.queue(ANALYST) if c.group_key == S1_CUSTOMER)
    inc.cases.transition(ANALYST, cid, "investigating")
    req = inc.actions.request(ANALYST, target_kind="account", target_id=S1_ACCOUNT, action="freeze",
                              legal_basis="anti_telecom_fraud_art18", reason="counterfeit", case_id=cid,
                              customer_id=S1_CUSTOMER)
    with pytest.raises(Forbidden):
        inc.actions.approve(ANALYST, req.action_id)
    inc.actions.approve(SUPERVISOR, req.action_id)
    probe = {"type": "card_present", "event_id": "pg-after", "event_time": "2026-03-13T10:00:00+08:00",
             "txn": "atm_withdrawal", "pan": "6222021234567890", "account_id": S1_ACCOUNT,
             "customer_id": S1_CUSTOMER, "terminal_id": "atm-NA-001", "pos_entry_mode": "05", "amount": 100}
    assert pg_risk.submit("default", probe).decision.reasons[0] == "account.frozen"
    inc.cases.add_attachment(ANALYST, cid, "photo.bin", "application/octet-stream", bytes(range(256)))
    out = tmp_path / "bundle"
    inc.export_evidence(ANALYST, cid, out)
    assert verify_bundle(out, keystore.public_key("evidence-signing/v1")).ok
    inc.disputes.fund_reserve(SUPERVISOR2, 50_000_00, "reserve")
    d = inc.disputes.open(ANALYST, case_id=cid, customer_id=S1_CUSTOMER, account_id=S1_ACCOUNT, claimed=18_950_00,
                          statement="", facts={"counterfeit_card": True, "pin_negligence": True})
    d = inc.disputes.settle(SUPERVISOR, inc.disputes.assess(ANALYST, d["dispute_id"])["dispute_id"])
    assert d["paid"] == 13_265_00
    assert inc.disputes.ledger(ANALYST)["available"] == 50_000_00 - 13_265_00
    assert AuditLog(pg_risk.db, keystore).verify().ok
