"""What a hostile or careless caller sends to ``POST /v1/events``: a far-future ``event_time``
(issue 14, item 1), money that a float would round, numbers and flags sent as strings, epochs as
times (item 14). Each is refused with a 422 naming the field, and nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dunpai.core.config import load_settings
from dunpai.core.db import init_schema, make_engine
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.service import RiskService
from tests.kdf import CHEAP_KEYSTORE
from tests.risk.conftest import Api, shared_keys

NOW = datetime.fromisoformat("2026-03-12T10:00:00+08:00")


@pytest.fixture
def clocked(tmp_path: Path) -> Iterator[Api]:
    """The API over a service whose clock reads ``NOW`` and that allows 5 minutes of skew (the default)."""
    from dunpai.keys import PanTokenizer

    db = make_engine(f"sqlite:///{tmp_path / 'risk.db'}")
    init_schema(db)
    svc = RiskService(db, MemoryStore(), protector=PanTokenizer(shared_keys()), clock=NOW.timestamp,
                      max_future_skew=load_settings().events.max_future_skew_s)
    yield Api(svc)
    db.dispose()


def use(i: int, at: datetime, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "card_present", "event_id": f"use-{i}", "event_time": at.isoformat(), "txn": "pos_purchase",
        "card_id": "card-victim", "account_id": "acct-1", "customer_id": "cust-1", "terminal_id": f"pos-{i}",
        "terminal_location": {"lat": 22.8, "lon": 108.3}, "pos_entry_mode": "05", "amount": 30_000}
    body.update(over)
    return body


def problems(r: Any) -> dict[str, str]:
    assert r.status_code == 422, r.text
    return {p["field"]: p["problem"] for p in r.json()["problems"]}


def test_a_future_dated_event_is_refused_and_cannot_blind_the_cards_features(clocked: Api) -> None:
    for i, when in enumerate(("2099-01-01T00:00:00+08:00", "9999-12-31T23:59:59+08:00")):
        r = clocked.post_event(use(100 + i, datetime.fromisoformat(when)))
        assert "after the service clock" in problems(r)["event_time"]
    assert clocked.counts() == (0, 0)
    ids = []
    for i in range(10):  # ten uses within 27 minutes, each a little after the service clock
        r = clocked.post_event(use(i, NOW - timedelta(minutes=27) + timedelta(minutes=3 * i)))
        assert r.status_code == 200, r.text
        ids.append(r.json()["decision_id"])
    last = clocked.service.decision("default", ids[-1])
    assert last.features["card_count_1h"] > 5  # the card's velocity is seen, not frozen at 1
    assert last.action != "allow"


def test_an_event_within_the_allowed_skew_is_decided(clocked: Api) -> None:
    assert clocked.post_event(use(1, NOW + timedelta(seconds=299))).status_code == 200
    assert "event_time" in problems(clocked.post_event(use(2, NOW + timedelta(seconds=301))))


def test_the_skew_is_a_setting_of_the_served_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dunpai.risk.runtime import open_service

    monkeypatch.setenv("DUNPAI_EVENTS_MAX_FUTURE_SKEW_S", "60")
    cfg = load_settings(overrides={"data_dir": tmp_path, "keystore": CHEAP_KEYSTORE.model_dump()})
    service = open_service(cfg)
    try:
        assert service.max_future_skew == 60.0
    finally:
        service.close()
        service.db.dispose()


def _raw(api: Api, text: str) -> Any:
    return api.client.post("/v1/events", content=text.encode(), headers={
        **api.h("integrator"), "content-type": "application/json"})


TRANSFER = ('{"type":"mobile_transfer","event_id":"t-%d","event_time":%s,"account_id":"a","customer_id":"c",'
            '"payee_id":"p","amount":%s}')


def test_money_is_read_from_the_json_text_as_a_decimal(api: Api) -> None:
    when = '"2026-03-12T10:00:00+08:00"'
    for i, amount in enumerate(("12000.0000000000000001", "1e-400", "0.5")):
        assert "fraction" in problems(_raw(api, TRANSFER % (i, when, amount)))["amount"], amount
    for i, amount in enumerate(("NaN", "Infinity", "-Infinity")):
        assert problems(_raw(api, TRANSFER % (10 + i, when, amount))) == {"$": f"{amount} is not a number"}
    ok = _raw(api, TRANSFER % (20, when, "1.2e4"))
    assert ok.status_code == 200, ok.text
    assert api.counts() == (1, 1)


def test_numbers_and_flags_sent_as_strings_are_refused(api: Api) -> None:
    when = '"2026-03-12T10:00:00+08:00"'
    assert "not a string" in problems(_raw(api, TRANSFER % (1, when, '"12000"')))["amount"]
    assert "true or false" in problems(_raw(api, TRANSFER % (2, when, "true")))["amount"]
    login = ('{"type":"login","event_id":"l-1","event_time":"2026-03-12T10:00:00+08:00","customer_id":"c",'
             '"device_id":"d","success":%s,"location":{"lat":%s,"lon":108}}')
    assert "true or false" in problems(_raw(api, login % ('"true"', "22.8")))["success"]
    assert "true or false" in problems(_raw(api, login % ("1", "22.8")))["success"]
    assert "not a string" in problems(_raw(api, login % ("true", '"22.8"')))["location.lat"]
    assert api.counts() == (0, 0)


def test_an_epoch_is_not_an_event_time(api: Api) -> None:
    for i, when in enumerate(('"1700000000"', "1700000000", '"1700000000.5"')):
        assert "not an epoch" in problems(_raw(api, TRANSFER % (i, when, "100")))["event_time"], when
    assert api.counts() == (0, 0)


def test_dict_input_of_the_importer_and_stored_text_still_parse() -> None:
    from dunpai.risk.events.ingest import event_to_json, parse_event

    row = {"type": "mobile_transfer", "event_id": "h-1", "event_time": "2025-01-01T08:00:00+08:00",
           "account_id": "a", "customer_id": "c", "payee_id": "p", "amount": 12000.0}
    event, _ = parse_event(row)
    stored = event_to_json(event)
    assert '"amount":"12000"' in stored  # the stored canonical text keeps its form
    assert parse_event(stored)[0] == event
