"""The engine is pure: (state, event, inputs) -> (decision, new states), with no I/O of its own.

Every scenario event (S1–S4 with their normal traffic, shield-signed transfers, a replayed
signature, a frozen account) is decided once by the full service on SQLite, which gathers each
event's inputs inside its batch transaction; then ``Engine.decide`` decides them all again with
the database and the network unavailable (every connection raises) and must give the very same
decisions.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from dunpai.audit import AuditLog
from dunpai.core.db import init_schema, make_engine
from dunpai.keys import PanTokenizer
from dunpai.risk import service as service_module
from dunpai.risk.cases.accounts import AccountStates, states_changed
from dunpai.risk.cases.tables import account_states
from dunpai.risk.compromise.enricher import ExposureEnricher
from dunpai.risk.compromise.sql import CachedExposureRepository, SqlExposureRepository
from dunpai.risk.decisions.engine import Engine
from dunpai.risk.decisions.inputs import Inputs, gather_inputs
from dunpai.risk.decisions.record import Decision
from dunpai.risk.events.schemas import AnyEvent, MobileTransfer
from dunpai.risk.features.pipeline import FeaturePipeline
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.scenarios.insider_skimming import s3_events, s4_run
from dunpai.risk.scenarios.source_cases import demo_events
from dunpai.risk.service import RiskService
from dunpai.risk.shield import ShieldApp, ShieldEnricher, ShieldService
from dunpai.risk.shield.model import STATUS_CODES
from dunpai.risk.shield.sql import SqlShieldRepository

from .conftest import shared_keys

FROZEN_ACCOUNT = "acct-00003"


class Unavailable(OSError):
    pass


def _refuse(*_args: Any, **_kwargs: Any) -> Any:
    raise Unavailable("no database and no network in this test")


@contextmanager
def no_database_no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every new socket connection, name look-up and SQLite connection raises."""
    with monkeypatch.context() as m:
        m.setattr(socket.socket, "connect", _refuse)
        m.setattr(socket.socket, "connect_ex", _refuse)
        m.setattr(socket, "create_connection", _refuse)
        m.setattr(socket, "getaddrinfo", _refuse)
        m.setattr(sqlite3, "connect", _refuse)
        m.setattr(sqlite3.dbapi2, "connect", _refuse)
        yield


def _signed(body: dict[str, Any], app: ShieldApp) -> dict[str, Any]:
    transfer = app.signed(MobileTransfer.model_validate(body))
    return dict(json.loads(transfer.model_dump_json(exclude_none=True)))


def _service(tmp: Path) -> RiskService:
    db = make_engine(f"sqlite:///{tmp / 'risk.db'}")
    init_schema(db)
    keys = shared_keys()
    enrichers = (ShieldEnricher(ShieldService(SqlShieldRepository(db))),
                 ExposureEnricher(CachedExposureRepository(SqlExposureRepository(db))))
    return RiskService(db, MemoryStore(), protector=PanTokenizer(keys), audit=AuditLog(db, keys),
                       accounts=AccountStates(db), enrichers=enrichers, clock=lambda: 1_700_000_000.0)


def _comparable(d: Decision) -> str:
    return json.dumps({**d.to_dict(), "features": dict(sorted(d.features.items()))}, sort_keys=True,
                      ensure_ascii=False)


def test_engine_decides_every_scenario_event_without_database_or_network(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = _service(tmp_path)
    with service.db.begin() as conn:
        conn.execute(insert(account_states).values(tenant="default", target_kind="account", target_id=FROZEN_ACCOUNT,
                                                   state="frozen", since=0.0, action_id="act-test"))
    states_changed()
    shield = next(e for e in service.enrichers if isinstance(e, ShieldEnricher)).checker
    assert isinstance(shield, ShieldService)
    apps: dict[str, ShieldApp] = {}
    events = demo_events(seed=11, customers=40, history_days=4)
    for body, _, _ in events:  # customers 2-9 confirm their transfers with the mobile shield
        if body["type"] == "mobile_transfer" and body["customer_id"] in {f"cust-{i:05d}" for i in range(2, 10)}:
            app = apps.get(body["customer_id"])
            if app is None:
                app = apps[body["customer_id"]] = ShieldApp(body["customer_id"], "phone")
                shield.enrol(app.enrolment_request("c"), 0.0, "c")
            body.update(_signed(body, app))
    first_signed = next(b for b, _, _ in events if "shield" in b)
    replayed = {**first_signed, "event_id": "replayed-signature"}  # the same signature, another transfer
    staff, _ = s3_events(seed=11)
    exposures = next(e.repo for e in service.enrichers if isinstance(e, ExposureEnricher))
    skimming = s4_run(exposures, seed=11)

    seen: list[tuple[AnyEvent, Inputs]] = []
    gather = gather_inputs  # what the service calls, recorded on the way

    def recording(event: AnyEvent, *args: Any, **kwargs: Any) -> Inputs:
        inputs = gather(event, *args, **kwargs)
        seen.append((event, inputs))
        return inputs

    monkeypatch.setattr(service_module, "gather_inputs", recording)
    decided: list[Decision] = []

    def submit(bodies: list[dict[str, Any]]) -> None:
        for i in range(0, len(bodies), 256):  # batches, as the HTTP API groups them
            for result in service.submit_many([("default", b) for b in bodies[i:i + 256]]):
                assert not isinstance(result, Exception), result
                decided.append(result.decision)

    submit([body for body, _, _ in (*events, (replayed, "S2", True), *staff)])
    pending: list[dict[str, Any]] = []
    for body, _, _ in skimming.events:  # the compromise job runs at each day's end on what is decided
        if pending and datetime.fromisoformat(body["event_time"]).timestamp() >= skimming.next_run:
            submit(pending)
            for done in pending:
                skimming.after(done)
            pending = []
        skimming.before(body)
        pending.append(body)
    submit(pending)
    assert len(seen) == len(decided) == len(events) + 1 + len(staff) + len(skimming.events)
    # The inputs path was exercised: valid and replayed signatures, a frozen account, exposed cards.
    statuses = {i.features.get("shield_status") for _, i in seen}
    assert {STATUS_CODES["valid"], STATUS_CODES["replayed"], STATUS_CODES["missing"]} <= statuses
    assert any(i.account_status == "frozen" for _, i in seen)
    assert any(i.features.get("card_exposed") == 1.0 for _, i in seen)
    ruleset = service.engine("default").ruleset
    service.db.dispose()  # no pooled connection left to reuse

    with no_database_no_network(monkeypatch):
        with pytest.raises(Unavailable):
            service.db.connect()
        with pytest.raises(Unavailable):
            socket.create_connection(("127.0.0.1", 5432))
        engine = Engine(ruleset, FeaturePipeline(), tenant="default")
        store = MemoryStore()
        again = []
        for seq, (event, inputs) in enumerate(seen, start=1):
            decision, states = engine.decide(event, store, inputs)
            store.put_many(states, seq)
            again.append(decision)

    assert [_comparable(d) for d in again] == [_comparable(d) for d in decided]
    actions = {d.action for d in again}
    assert "freeze" in actions and "allow" in actions
    assert any("account.frozen" in d.reasons for d in again)
