"""Who may say what (issue 14, items 10 and 11) and how deep a rule may nest (item 12)."""

from __future__ import annotations

from typing import Any

from tests.risk.conftest import Api, card_event


def label(source: str | None, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "label", "event_id": "lab-1", "event_time": "2026-03-12T10:05:00+08:00",
                            "target_event_id": "e-1", "fraud": True}
    if source is not None:
        body["source"] = source
    body.update(over)
    return body


def test_an_integrator_key_cannot_label_as_an_analyst(api: Api) -> None:
    assert api.post_event(card_event(1)).status_code == 200
    for source in ("analyst", None):  # an absent source used to mean "analyst"
        r = api.post_event(label(source))
        assert r.status_code == 403, r.text
        assert r.json()["problems"][0]["field"] == "source"
    assert api.counts() == (1, 1)
    nxt = api.post_event(card_event(2, event_time="2026-03-12T10:10:00+08:00"))
    assert nxt.json()["action"] == "allow", nxt.json()  # the card's next use is not restricted
    assert api.post_event(label("chargeback")).status_code == 200  # what the bank's systems learnt
    assert api.post_event(label("analyst", event_id="lab-2"), role="admin").status_code == 200


def test_metrics_are_for_admin_keys_only(api: Api) -> None:
    assert api.post_event(card_event(1)).status_code == 200
    for role in ("integrator", "analyst", "supervisor"):
        r = api.client.get("/metrics", headers=api.h(role))
        assert r.status_code == 403, role
        assert "dunpai_decisions" not in r.text
    ok = api.client.get("/metrics", headers=api.h("admin"))
    assert ok.status_code == 200 and "dunpai_decisions_total" in ok.text


RULESET = """name: deep
rules:
  - id: deep.one
    description: {zh: 深, en: deep}
    expression: "%s(amount > 1.0)"
    action: verify
    score: 10
    reason: deep.one
    applies_to: [card_present]
    customer_message: {zh: 深, en: deep}
"""


def test_a_rule_nested_past_the_limit_is_a_422_naming_the_rule(api: Api) -> None:
    for prefix in ("!" * 1950, "-" * 1950, "!-" * 900):
        r = api.client.post("/v1/rulesets/validate", content=(RULESET % prefix).encode(), headers=api.h("analyst"))
        assert r.status_code == 422, r.text[:300]
        problem = r.json()["problems"][0]
        assert problem["field"] == "rules[0].expression" and "nested too deeply" in problem["problem"]
    fine = api.client.post("/v1/rulesets/validate", content=(RULESET % "!!").encode(), headers=api.h("analyst"))
    assert fine.status_code == 200, fine.text
