from __future__ import annotations

import pytest

from dunpai.core.errors import InvalidInput
from dunpai.keys import PanTokenizer
from dunpai.risk.events.ingest import event_to_json, parse_event
from tests.risk.conftest import PAN, card_event, shared_keys

PROTECT = PanTokenizer(shared_keys())


def problems(raw: object) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        parse_event(raw, PROTECT)
    return {p.field: p.problem for p in info.value.problems}


def test_valid_card_event_strips_the_pan() -> None:
    event, masked = parse_event(card_event(), PROTECT)
    assert masked == "622202******7890"
    assert event.card_id is not None and event.card_id.startswith("pan1.")
    assert PAN not in event_to_json(event)
    assert PAN not in repr(event)


@pytest.mark.parametrize(("override", "field"), [
    ({"amount": "12.5"}, "amount"),
    ({"amount": -1}, "amount"),
    ({"event_time": "2026-03-12T10:00:00"}, "event_time"),
    ({"pos_entry_mode": "99"}, "pos_entry_mode"),
    ({"currency": "cny"}, "currency"),
    ({"terminal_location": {"lat": 123, "lon": 0}}, "terminal_location.lat"),
    ({"event_id": "bad id with spaces"}, "event_id"),
    ({"surprise": 1}, "surprise"),
    ({"pan": "12ab"}, "pan"),
])
def test_each_bad_field_is_named(override: dict[str, object], field: str) -> None:
    assert field in problems(card_event(**override))


def test_unknown_type_and_missing_fields() -> None:
    assert "type" in " ".join(problems({"type": "wire", "event_id": "x", "event_time": "2026-01-01T00:00:00Z"}))
    missing = problems({"type": "login", "event_id": "x", "event_time": "2026-01-01T00:00:00Z"})
    assert {"customer_id", "device_id"} <= set(missing)


def test_card_event_needs_a_card() -> None:
    body = card_event()
    del body["pan"]
    assert "card_id" in problems(body)


@pytest.mark.parametrize(("override", "field"), [
    ({"event_id": f"e-{PAN}-1"}, "event_id"),
    ({"merchant_id": PAN}, "merchant_id"),
])
def test_a_card_number_copied_into_another_field_is_refused(override: dict[str, object], field: str) -> None:
    found = problems(card_event(**override))
    assert found == {field: "holds the card number sent as pan"}


def test_pan_refused_without_a_protector() -> None:
    with pytest.raises(InvalidInput):
        parse_event(card_event())


def test_not_json() -> None:
    with pytest.raises(InvalidInput):
        parse_event(b"{not json", PROTECT)
