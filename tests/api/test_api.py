"""The HTTP API: the source's cases S1 and S2, auth, roles, tenants, OpenAPI, metrics."""

from __future__ import annotations

from typing import Any

from dunpai.risk.scenarios.source_cases import demo_events
from tests.risk.conftest import Api, card_event


def replay_scenario(api: Api, customers: int = 40) -> list[tuple[dict[str, Any], str, bool, dict[str, Any]]]:
    out = []
    for body, scenario, fraud in demo_events(seed=11, customers=customers, history_days=5):
        r = api.post_event(body)
        assert r.status_code == 200, r.text
        out.append((body, scenario, fraud, r.json()))
    return out


def test_s1_and_s2_are_stopped_through_the_api(api: Api) -> None:
    results = replay_scenario(api)
    for scenario in ("S1", "S2"):
        frauds = [res for _, sc, fraud, res in results if sc == scenario and fraud]
        assert len(frauds) >= 4
        assert all(res["action"] != "allow" for res in frauds), frauds
    s1 = [res for _, sc, fraud, res in results if sc == "S1" and fraud]
    assert "counterfeit.chip_read_by_stripe" in s1[0]["reasons"]
    assert "counterfeit.card_far_from_phone" in s1[0]["reasons"]
    assert s1[-1]["customer_message"]["zh"].startswith("您的账户存在异常")
    s2 = [res for _, sc, fraud, res in results if sc == "S2" and fraud and res["reasons"]]
    assert any("takeover.new_device_new_payee" in r["reasons"] for r in s2)
    normal = [res for _, sc, _, res in results if sc == "normal"]
    assert sum(r["action"] == "allow" for r in normal) / len(normal) >= 0.97
    # the analyst can read why
    r = api.client.get(f"/v1/decisions/{s1[0]['decision_id']}", headers=api.h("analyst"))
    assert r.status_code == 200
    body = r.json()
    assert any(rule["outcome"] == "hit" and rule["values"] for rule in body["analyst"]["rules"])


def test_every_endpoint_needs_a_key(api: Api) -> None:
    for method, path in (("get", "/metrics"), ("post", "/v1/events"), ("get", "/v1/rulesets"),
                         ("get", "/v1/decisions/x")):
        r = getattr(api.client, method)(path)
        assert r.status_code == 401, path
        assert r.json()["code"] == "unauthenticated"
        assert r.headers["www-authenticate"] == "Bearer", path
    assert api.client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_health_needs_no_key_and_reveals_nothing(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, api.h("admin")):
        r = api.client.get("/health", headers=headers)
        assert (r.status_code, r.json()) == (200, {"status": "ok"})  # no version, no counts, no names


def test_api_docs_are_served_from_the_package(api: Api) -> None:
    page = api.client.get("/docs").text
    assert "/docs/assets/swagger-ui-bundle.js" in page and "/docs/assets/swagger-ui.css" in page
    assert "cdn" not in page.lower() and "https://" not in page.split("<body")[0]
    js = api.client.get("/docs/assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert len(js.content) > 100_000
    assert api.client.get("/docs/assets/../app.py").status_code == 404
    spec = api.client.get("/openapi.json").json()
    post = spec["paths"]["/v1/events"]["post"]  # the fast path, described although no route serves it
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Event"}
    assert "DecisionSummary" in spec["components"]["schemas"]
    assert api.client.post("/v1/events", json=card_event(1), headers={"X-API-Key": "nope"}).status_code == 401


def test_event_body_is_bounded_and_nothing_is_stored(api: Api) -> None:
    big = card_event(1, merchant_name="x" * (70 * 1024))
    r = api.post_event(big)
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    assert r.json()["problems"] == [{"field": "$", "problem": "over 65536 bytes"}]
    assert api.counts() == (0, 0)
    ok = api.client.post("/v1/events", json=card_event(2), headers={"X-API-Key": api.keys["integrator"]})
    assert ok.status_code == 200 and ok.headers["content-type"] == "application/json"


def test_roles(api: Api) -> None:
    assert api.post_event(card_event(1), role="analyst").status_code == 403
    assert api.client.post("/v1/rulesets/x/publish", headers=api.h("analyst")).status_code == 403
    assert api.client.get("/v1/rulesets", headers=api.h("integrator")).status_code == 403
    assert api.post_event(card_event(2), role="admin").status_code == 200


def test_foreign_ids_answer_404(api: Api) -> None:
    decision = api.post_event(card_event(1)).json()
    other = {"Authorization": f"Bearer {api.other_tenant}"}
    r = api.client.get(f"/v1/decisions/{decision['decision_id']}", headers=other)
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_a_very_long_id_is_not_echoed_back_whole(api: Api) -> None:
    long_id = "d" * 60_000
    r = api.client.get(f"/v1/decisions/{long_id}", headers=api.h("admin"))
    assert r.status_code == 404
    echoed = r.json()["details"]["decision_id"]
    assert echoed.startswith("d" * 200) and "60,000 characters" in echoed and len(r.content) < 1_000


def test_invalid_event_gets_422_naming_the_field(api: Api) -> None:
    r = api.post_event(card_event(1, amount="12.34"))
    assert r.status_code == 422
    assert r.json()["problems"][0]["field"] == "amount"
    r = api.client.post("/v1/events", content=b"{", headers=api.h("integrator"))
    assert r.status_code == 422


def test_duplicate_and_conflict(api: Api) -> None:
    first = api.post_event(card_event(1)).json()
    again = api.post_event(card_event(1)).json()
    assert again["duplicate"] and again["decision_id"] == first["decision_id"]
    assert api.post_event(card_event(1, amount=1)).status_code == 409


def test_ruleset_endpoints(api: Api) -> None:
    rulesets = api.client.get("/v1/rulesets", headers=api.h("analyst")).json()
    published = next(r for r in rulesets if r["status"] == "published")
    source = api.client.get(f"/v1/rulesets/{published['version']}", headers=api.h("analyst")).json()["source"]
    bad = source.replace("card_count_1h >= 8.0", "card_count_1h >= ")
    r = api.client.post("/v1/rulesets/validate", content=bad.encode(), headers=api.h("analyst"))
    assert r.status_code == 422 and "G.card_velocity" in r.json()["problems"][0]["problem"]
    edited = source.replace("card_count_1h >= 8.0", "card_count_1h >= 6.0")
    draft = api.client.post("/v1/rulesets", content=edited.encode(), headers=api.h("analyst"))
    assert draft.status_code == 201
    version = draft.json()["version"]
    own = api.client.post("/v1/rulesets", content=edited.replace("6.0", "7.0").encode(), headers=api.h("supervisor"))
    refused = api.client.post(f"/v1/rulesets/{own.json()['version']}/publish", headers=api.h("supervisor"))
    assert refused.status_code == 403 and "dual control" in refused.json()["message"]  # not one's own upload
    r = api.client.post(f"/v1/rulesets/{version}/publish", headers=api.h("supervisor"))
    assert r.status_code == 200 and r.json()["status"] == "published"


def test_openapi_and_metrics(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert "Event" in spec["components"]["schemas"]
    assert "CardPresent" in spec["components"]["schemas"]
    api.post_event(card_event(1))
    metrics = api.client.get("/metrics", headers=api.h("admin")).text
    assert 'dunpai_decisions_total{action="allow"} 1.0' in metrics
