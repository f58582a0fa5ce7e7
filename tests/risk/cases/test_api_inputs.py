"""Every write route of the incident API validates like ``POST /v1/events`` (issue 14, item 2):
finite bounded numbers, allowed values, bounded ids and texts; a refused body stores nothing."""

from __future__ import annotations

from typing import Any

import pytest

from dunpai.api.inputs import EntityField
from dunpai.risk.cases.model import ENTITY_KINDS
from tests.risk.cases.conftest import S1_CUSTOMER, World
from tests.risk.cases.test_api_cases import Api


@pytest.fixture
def api(world: World) -> Api:
    return Api(world)


def alert(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"alert_id": "alr-ext-1", "source": "manual", "kind": "manual.tip", "score": 80,
                            "raised_at": 1_773_300_000.0, "entities": {"customer_id": "cust-00007"},
                            "summary": {"zh": "线索", "en": "a tip"}, "amount": 5_000}
    body.update(over)
    return body


def alert_count(world: World) -> int:
    from sqlalchemy import func, select

    from dunpai.risk.cases.tables import alerts

    with world.risk.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(alerts)).scalar_one())


HOSTILE = [
    ("raised_at", {"raised_at": "inf"}), ("raised_at", {"raised_at": float("inf")}),
    ("raised_at", {"raised_at": 1e300}), ("score", {"score": 10**30}), ("score", {"score": -1}),
    ("detail", {"detail": {"blob": "x" * 60_000}}), ("amount", {"amount": -5}), ("source", {"source": "invented"}),
    ("currency", {"currency": "xx"}), ("entities.customer_id", {"entities": {"customer_id": "k" * 100_000}}),
    ("entities", {"entities": {"planet_id": "mars"}}), ("entities", {"entities": {}}),
    ("detail", {"detail": {"x": float("nan")}}), ("kind", {"kind": "<script>"}),
]


@pytest.mark.parametrize(("field", "over"), HOSTILE, ids=[f for f, _ in HOSTILE])
def test_a_hostile_alert_is_refused_naming_the_field_and_nothing_is_stored(api: Api, world: World, field: str,
                                                                           over: dict[str, Any]) -> None:
    before = alert_count(world)
    r = api.client.post("/v1/alerts", headers={**api.h("integrator"), "content-type": "application/json"},
                        content=_json({"alert": alert(**over)}))
    assert r.status_code in (413, 422), r.text
    if r.status_code == 422:
        fields = [p["field"] for p in r.json()["problems"]]
        assert any(f.startswith(f"alert.{field}") for f in fields), fields
    assert alert_count(world) == before


def _json(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()  # NaN and Infinity written as JS literals, as an attacker would


def test_a_good_alert_and_terminal_flag_still_open_cases(api: Api) -> None:
    r = api.post("/v1/alerts", "integrator", {"alert": alert()})
    assert r.status_code == 201 and r.json()["new"] is True, r.text
    flag = {"kind": "compromise.terminal", "reason": "compromise.skimming_suspected",
            "entity": {"terminal_id": "atm-LI-003"}, "summary": {"zh": "终端疑似侧录", "en": "suspected skimmer"},
            "flagged_at": 1_773_300_000.0, "score": 9.1, "test": {"p_value": 1e-9, "tests": 40},
            "window": {"start": 0, "end": 1}, "evidence": [{"card_id": "c-1", "visit_t": 1.0}]}
    assert api.post("/v1/alerts", "integrator", {"terminal_flag": flag}).status_code == 201
    for bad in ({"p_value": 2.0}, {"p_value": "0.1"}, {"p_value": 0.1, "x": float("nan")}):
        r = api.client.post("/v1/alerts", headers={**api.h("integrator"), "content-type": "application/json"},
                            content=_json({"terminal_flag": {**flag, "test": bad}}))
        assert r.status_code == 422, bad


def test_a_due_date_must_be_a_time(api: Api, world: World) -> None:
    cid = world.case_of(S1_CUSTOMER)
    for due in ("1e300", "NaN", "Infinity", "-1"):
        r = api.client.post(f"/v1/cases/{cid}/due", headers={**api.h("supervisor"), "content-type": "application/json"},
                            content=b'{"due_at": %s}' % due.encode())
        assert r.status_code == 422 and r.json()["problems"][0]["field"] == "due_at", (due, r.text)
    assert api.post(f"/v1/cases/{cid}/due", "supervisor", {"due_at": 1_773_400_000.0}).status_code == 200
    assert api.get("/v1/cases", "analyst").status_code == 200
    assert api.post("/v1/cases/sync?since=nan", "supervisor").status_code == 422


def test_dispute_facts_are_bounded(api: Api, world: World) -> None:
    cid = world.case_of(S1_CUSTOMER)
    many = {f"fact_{i}": True for i in range(51)}
    r = api.post("/v1/disputes", "analyst", {"case_id": cid, "customer_id": S1_CUSTOMER, "account_id": "a",
                                             "claimed": 100, "facts": many})
    assert r.status_code == 422


def test_the_entity_fields_match_the_case_models_kinds() -> None:
    assert list(EntityField.__args__) == [f"{k}_id" for k in ENTITY_KINDS]


def _raw(api: Api, path: str, who: str, text: str) -> Any:
    return api.client.post(path, headers={**api.h(who), "content-type": "application/json"}, content=text.encode())


def _alert_text(**over: str) -> str:
    """An alert body as JSON text with some values replaced by raw JSON (as a careless caller writes them)."""
    import json

    body = alert(alert_id="alr-typed", **{k: f"@{k}@" for k in over})
    text = json.dumps({"alert": body})
    for key, value in over.items():
        text = text.replace(f'"@{key}@"', value)
    return text


WRONG_TYPES = [("score", '"50"'), ("score", "50.0"), ("score", "true"), ("raised_at", '"1773300000"'),
               ("raised_at", "true"), ("amount", '"5000"'), ("amount", "5000.0000000000000001"), ("amount", "5e3")]


@pytest.mark.parametrize(("field", "value"), WRONG_TYPES, ids=[f"{f}={v}" for f, v in WRONG_TYPES])
def test_an_alert_is_strictly_typed_like_an_event(api: Api, world: World, field: str, value: str) -> None:
    before = alert_count(world)
    r = _raw(api, "/v1/alerts", "integrator", _alert_text(**{field: value}))
    assert r.status_code == 422, r.text
    assert [p["field"] for p in r.json()["problems"]] == [f"alert.{field}"]
    assert alert_count(world) == before


def test_due_dates_money_and_facts_are_strictly_typed(api: Api, world: World) -> None:
    cid = world.case_of(S1_CUSTOMER)
    for due in ('"1773400000"', "true"):  # a string or a flag is no time (true was stored as 1970-01-01)
        r = _raw(api, f"/v1/cases/{cid}/due", "supervisor", '{"due_at": ' + due + "}")
        assert r.status_code == 422 and r.json()["problems"][0]["field"] == "due_at", (due, r.text)
    def dispute(claimed: str, more: str = "") -> str:
        return f'{{"case_id": "{cid}", "customer_id": "{S1_CUSTOMER}", "account_id": "a", "claimed": {claimed}{more}}}'

    for claimed in ('"100"', "100.0000000000000001", "true"):  # the fraction was rounded to 100 by a float
        r = _raw(api, "/v1/disputes", "analyst", dispute(claimed))
        assert r.status_code == 422 and r.json()["problems"][0]["field"] == "claimed", (claimed, r.text)
    assert _raw(api, "/v1/reserve/fund", "supervisor", '{"amount": "100"}').status_code == 422
    assert _raw(api, "/v1/disputes", "analyst", dispute("100", ', "facts": {"reported": 1}')).status_code == 422
    assert _raw(api, "/v1/disputes", "analyst", dispute("100")).status_code == 201


def test_texts_carry_no_control_characters(api: Api, world: World) -> None:
    """PostgreSQL refuses a NUL in text (a 500 there); a one-line value has no line breaks either."""
    cid = world.case_of(S1_CUSTOMER)
    refused = [(f"/v1/cases/{cid}/assign", "supervisor", {"assignee": "ana\x00"}, "assignee"),
               (f"/v1/cases/{cid}/assign", "supervisor", {"assignee": "ana\nlyst"}, "assignee"),
               (f"/v1/cases/{cid}/notes", "analyst", {"text": "seen at \x00 the ATM"}, "text"),
               (f"/v1/cases/{cid}/transition", "analyst", {"to": "investigating", "note": "\x1b[2J"}, "note"),
               ("/v1/reserve/fund", "supervisor", {"amount": 100, "memo": "\x00"}, "memo"),
               ("/v1/alerts", "integrator", {"alert": alert(summary={"zh": "线索\x00", "en": "tip"})},
                "alert.summary.zh")]
    for path, who, body, field in refused:
        r = api.post(path, who, body)
        assert r.status_code == 422, (path, r.text)
        assert [p["field"] for p in r.json()["problems"]] == [field], (path, r.text)
    ok = api.post(f"/v1/cases/{cid}/notes", "analyst", {"text": "line one\nline two\r\n\tindented"})
    assert ok.status_code == 201, ok.text


UNPARSABLE = ['{"alert": ' + "[" * 5000 + "]" * 5000 + "}", '{"alert": {"score": ' + "9" * 5000 + "}}", "not json"]


@pytest.mark.parametrize("text", UNPARSABLE, ids=["nested", "long number", "not json"])
def test_a_body_that_cannot_be_parsed_is_a_422_naming_the_body(api: Api, text: str) -> None:
    r = _raw(api, "/v1/alerts", "integrator", text)
    assert r.status_code == 422 and r.json()["code"] == "invalid_input", r.text
    assert [p["field"] for p in r.json()["problems"]] == ["$"]
