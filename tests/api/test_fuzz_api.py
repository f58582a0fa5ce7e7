"""Malformed events (Hypothesis, thousands of cases): a clear 4xx, the server stays up, nothing stored."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.risk.conftest import Api, card_event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
VALID = [
    card_event(0),
    {"type": "mobile_transfer", "event_id": "m", "event_time": "2026-03-12T10:00:00+08:00", "account_id": "a",
     "customer_id": "c", "device_id": "d", "payee_id": "p", "amount": 100},
    {"type": "staff_access", "event_id": "s", "event_time": "2026-03-12T10:00:00+08:00", "employee_id": "e",
     "branch_id": "b", "customer_id": "c", "query_type": "credit_report"},
]


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    body = dict(draw(st.sampled_from(VALID)))
    key = draw(st.sampled_from(sorted(body)) | st.text(min_size=1, max_size=10))
    if draw(st.booleans()):
        body.pop(key, None)
    else:
        body[key] = draw(json_values)
    return body


def check(api: Api, payload: bytes) -> None:
    before = api.counts()
    r = api.client.post("/v1/events", content=payload, headers=api.h("integrator"))
    after = api.counts()
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        assert after[0] in (before[0], before[0] + 1) and after[0] == after[1]
        return
    assert 400 <= r.status_code < 500
    body = r.json()
    assert body["code"] in ("invalid_input", "conflict") and body["message"]
    if body["code"] == "invalid_input":
        assert body["problems"] and all(p["field"] and p["problem"] for p in body["problems"])
    assert after == before


_SETTINGS = settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(body=mutated())
def test_mutated_events(api: Api, body: dict[str, Any]) -> None:
    body["event_id"] = f"fz{abs(hash(json.dumps(body, sort_keys=True, default=str))) % 10**12}"
    check(api, json.dumps(body, default=str).encode())


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values)
def test_arbitrary_json(api: Api, body: Any) -> None:
    check(api, json.dumps(body).encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=200))
def test_arbitrary_bytes(api: Api, payload: bytes) -> None:
    check(api, payload)
    assert api.client.get("/health", headers=api.h("admin")).status_code == 200
