"""``POST /v1/events`` answers within its deadline when the database, the state store or the model is
slow or down (issue 14, "faults"): the stand-in decision (rules on the event alone, ``degraded``),
counted in ``/metrics``, and the event recorded once the dependency returns. No wall-clock
assertion: each dependency is held until the test lets it go, so the answer can only be the
stand-in; the waits below poll for an outcome and give up only after a generous limit."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from dunpai.api.app import create_app
from dunpai.api.auth import Authenticator, create_api_key
from dunpai.api.deadline import SPOOL_FILE
from dunpai.risk.fallback import STAND_IN
from dunpai.risk.service import RiskService
from tests.risk.conftest import card_event, make_service

LIMIT_S = 60.0


def eventually(check: Callable[[], bool], what: str) -> None:
    give_up = time.monotonic() + LIMIT_S
    while not check():
        assert time.monotonic() < give_up, f"never happened: {what}"
        time.sleep(0.02)


class Served:
    def __init__(self, service: RiskService, tmp: Path, deadline_s: float = 0.3) -> None:
        self.service = service
        self.spool = tmp / "spool"
        self.app = create_app(service, Authenticator(service.db), deadline_s=deadline_s, spool_dir=self.spool)
        self.app.state.events.deadline.retry_s = 0.05
        self.integrator = create_api_key(service.db, "switch", "integrator")
        self.admin = create_api_key(service.db, "ops", "admin")
        self.client = TestClient(self.app)

    def post(self, body: dict[str, Any]) -> Any:
        r = self.client.post("/v1/events", json=body, headers={"Authorization": f"Bearer {self.integrator}"})
        assert r.status_code == 200, r.text
        return r.json()

    def recorded(self, event_id: str) -> bool:
        with self.service.db.connect() as conn:
            return bool(conn.exec_driver_sql("SELECT count(*) FROM risk_events WHERE event_id = ?",
                                             (event_id,)).scalar_one())

    def metric(self, line_start: str) -> float:
        text = self.client.get("/metrics", headers={"Authorization": f"Bearer {self.admin}"}).text
        for line in text.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    service = make_service(tmp_path)
    s = Served(service, tmp_path)
    with s.client:
        assert s.post(card_event(0))["degraded"] is False  # warm: key cached, default ruleset installed
        yield s
    s.app.state.events.batcher.close()
    service.db.dispose()


def test_a_locked_database_gets_the_stand_in_then_the_event_is_recorded(served: Served, tmp_path: Path) -> None:
    lock = sqlite3.connect(tmp_path / "risk.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # another process holds the database
    try:
        answer = served.post(card_event(1))
        assert answer["degraded"] is True and STAND_IN in answer["reasons"]
        assert not served.recorded("e-1")
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    eventually(lambda: served.recorded("e-1"), "the event recorded after the database came back")
    again = served.post(card_event(1))  # the switch resends: the full decision, made and kept
    assert again["duplicate"] is True and again["degraded"] is False
    assert again["decision_id"] == answer["decision_id"]
    assert served.metric('dunpai_degraded_answers_total{cause="deadline"}') == 1.0


def test_a_database_that_is_down_spools_the_event_until_it_returns(served: Served,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    real = served.service.submit_many
    down = threading.Event()
    down.set()

    def flaky(items: Any) -> Any:
        if down.is_set():
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        return real(items)

    monkeypatch.setattr(served.service, "submit_many", flaky)
    answers = [served.post(card_event(i)) for i in (1, 2, 3)]
    assert all(a["degraded"] for a in answers)
    spooled = (served.spool / SPOOL_FILE).read_text().splitlines()
    assert len(spooled) == 3 and all('"e-' in line for line in spooled)
    assert served.metric('dunpai_degraded_answers_total{cause="unavailable"}') == 3.0
    assert served.metric("dunpai_spooled_events") == 3.0
    down.clear()  # the database is back
    eventually(lambda: all(served.recorded(f"e-{i}") for i in (1, 2, 3)), "the spooled events recorded")
    eventually(lambda: served.metric("dunpai_spooled_events") == 0.0, "the spool emptied")
    assert served.metric("dunpai_spool_recorded_total") == 3.0
    assert not (served.spool / SPOOL_FILE).exists() or not (served.spool / SPOOL_FILE).read_text().strip()


def test_events_spooled_by_a_previous_run_are_recorded_at_start(tmp_path: Path) -> None:
    import json

    spool = tmp_path / "spool"
    spool.mkdir()
    body = json.dumps(card_event(7))
    (spool / SPOOL_FILE).write_text(json.dumps({"tenant": "default", "body": body}) + "\n")
    service = make_service(tmp_path / "svc")
    try:
        create_app(service, Authenticator(service.db), deadline_s=0.3, spool_dir=spool)
        with service.db.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM risk_events").scalar_one() == 1
        assert not (spool / "events.draining.jsonl").exists()
    finally:
        service.db.dispose()


def test_a_slow_model_gets_the_stand_in_and_the_full_decision_is_kept(tmp_path: Path) -> None:
    release = threading.Event()

    class SlowModel:
        version = "slow-1"
        kind = "test"

        def predict(self, features: Mapping[str, float]) -> float:
            release.wait(LIMIT_S)
            return 0.01

        def contributions(self, features: Mapping[str, float], top: int) -> list[tuple[str, float]]:
            return []

        def reason_for(self, feature: str) -> str:
            return "model.test"

    service = make_service(tmp_path)
    s = Served(service, tmp_path)
    with s.client:
        s.post(card_event(0))
        service.deploy_model("default", SlowModel())
        try:
            answer = s.post(card_event(1))
            assert answer["degraded"] is True and answer["model_version"] is None
        finally:
            release.set()
        eventually(lambda: s.recorded("e-1"), "the full decision recorded")
        kept = service.decision("default", answer["decision_id"])
        assert kept.model_version == "slow-1" and STAND_IN not in kept.reasons
    s.app.state.events.batcher.close()
    service.db.dispose()


def test_the_stand_in_reads_the_rules_on_the_event_alone(served: Served, tmp_path: Path) -> None:
    lock = sqlite3.connect(tmp_path / "risk.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        cloned = served.post(card_event(5, pos_entry_mode="90", service_code="201", amount=500_000))
        plain = served.post(card_event(6))
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert cloned["degraded"] and "counterfeit.chip_read_by_stripe" in cloned["reasons"]
    assert cloned["action"] != "allow"  # a chip card read by its stripe needs nothing but the event
    assert plain["degraded"] and plain["action"] == "allow"
    bad = served.client.post("/v1/events", json={"type": "card_present"},
                             headers={"Authorization": f"Bearer {served.integrator}"})
    assert bad.status_code == 422  # a bad event is refused as ever, dependency or not


def test_a_key_verified_before_still_decides_while_the_database_is_down(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from dunpai.core.errors import Unavailable

    service = make_service(tmp_path)
    try:
        auth = Authenticator(service.db)
        key, other = (create_api_key(service.db, name, "integrator") for name in ("switch", "other"))
        assert auth.principal({"x-api-key": key}).name == "switch"
        auth._cache.clear()  # the look-up cache has expired

        def down() -> Any:
            raise OperationalError("SELECT", {}, Exception("connection refused"))

        monkeypatch.setattr(service.db, "connect", down)
        assert auth.principal({"x-api-key": key}).name == "switch"  # as last verified
        with pytest.raises(Unavailable):
            auth.principal({"x-api-key": other})  # never verified: no answer until the database is back
        auth.forget()  # a revocation signal
        with pytest.raises(Unavailable):
            auth.principal({"x-api-key": key})
    finally:
        service.db.dispose()


def test_a_future_dated_event_is_refused_even_while_the_database_is_down(served: Served,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in bounds ``event_time`` like the full path (issue 14, item 1): a 2099 event gets
    a 422 naming the field, not a degraded decision and a place in the spool."""

    def down(items: Any) -> Any:
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    from datetime import UTC, datetime

    served.service.max_future_skew = 300.0
    monkeypatch.setattr(served.service, "submit_many", down)
    now = served.service.clock()  # the service's own clock, whatever it reads
    future = card_event(7, event_time="2099-01-01T00:00:00+08:00")
    r = served.client.post("/v1/events", json=future, headers={"Authorization": f"Bearer {served.integrator}"})
    assert r.status_code == 422, r.text
    assert [p["field"] for p in r.json()["problems"]] == ["event_time"]
    assert served.metric("dunpai_spooled_events") == 0.0
    recent = datetime.fromtimestamp(now - 60, UTC).isoformat()
    assert served.post(card_event(8, event_time=recent))["degraded"] is True  # a good event: the stand-in
