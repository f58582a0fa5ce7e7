"""The incident-response HTTP API: roles, tenant isolation (a foreign id answers 404), dual control,
the frozen-account refusal through the decision endpoint, the report and the reserve."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dunpai.api.app import create_app
from dunpai.api.auth import Authenticator, create_api_key
from dunpai.api.cases import install_cases
from tests.risk.cases.conftest import S1_ACCOUNT, S1_CUSTOMER, World


class Api:
    def __init__(self, world: World) -> None:
        app = create_app(world.risk, Authenticator(world.risk.db))
        install_cases(app, world.inc)
        self.client = TestClient(app)
        db = world.risk.db
        self.keys = {name: create_api_key(db, name, role) for name, role in (
            ("integrator", "integrator"), ("analyst", "analyst"), ("analyst2", "analyst"),
            ("supervisor", "supervisor"), ("supervisor2", "supervisor"), ("admin", "admin"))}
        self.keys["foreign"] = create_api_key(db, "foreign", "admin", tenant="other-bank")

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def get(self, path: str, who: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self.h(who), **kw)

    def post(self, path: str, who: str, body: Any = None, **kw: Any) -> Any:
        return self.client.post(path, headers=self.h(who), json=body if body is not None else {}, **kw)


@pytest.fixture
def api(world: World) -> Iterator[Api]:
    yield Api(world)


def test_roles(api: Api, world: World) -> None:
    cid = world.case_of(S1_CUSTOMER)
    assert api.get("/v1/cases", "integrator").status_code == 403
    assert api.client.get("/v1/cases").status_code == 401
    queue = api.get("/v1/cases", "analyst").json()
    assert queue[0]["priority"] >= queue[-1]["priority"]
    assert api.post("/v1/cases/sync", "analyst").status_code == 403
    assert api.post(f"/v1/cases/{cid}/due", "analyst", {"due_at": 1.0}).status_code == 403
    assert api.post("/v1/reserve/fund", "analyst", {"amount": 100}).status_code == 403


def test_foreign_ids_answer_404(api: Api, world: World) -> None:
    cid = world.case_of(S1_CUSTOMER)
    req = api.post("/v1/account-actions", "analyst", {
        "target_kind": "account", "target_id": S1_ACCOUNT, "action": "freeze", "legal_basis": "police_request",
        "reason": "r", "case_id": cid}).json()
    dsp = api.post("/v1/disputes", "analyst", {"case_id": cid, "customer_id": S1_CUSTOMER,
                                               "account_id": S1_ACCOUNT, "claimed": 100}).json()
    for path in (f"/v1/cases/{cid}", f"/v1/cases/{cid}/events", f"/v1/cases/{cid}/report.pdf",
                 f"/v1/account-actions/{req['action_id']}", f"/v1/disputes/{dsp['dispute_id']}",
                 f"/v1/cases/{cid}/evidence", f"/v1/cases/{cid}/notices"):
        r = api.get(path, "foreign")
        assert r.status_code == 404 and r.json()["code"] == "not_found", path
    for path, body in ((f"/v1/cases/{cid}/transition", {"to": "investigating"}),
                       (f"/v1/account-actions/{req['action_id']}/approve", {}),
                       (f"/v1/disputes/{dsp['dispute_id']}/assess", {}),
                       (f"/v1/cases/{cid}/notes", {"text": "x"})):
        assert api.post(path, "foreign", body).status_code == 404, path
    assert api.post("/v1/account-actions", "foreign", {
        "target_kind": "account", "target_id": S1_ACCOUNT, "action": "freeze", "legal_basis": "police_request",
        "reason": "r", "case_id": cid}).status_code == 404
    assert api.get("/v1/cases", "foreign").json() == []


def _event(event_id: str) -> dict[str, Any]:
    return {"type": "card_present", "event_id": event_id, "event_time": "2026-03-13T10:00:00+08:00",
            "txn": "atm_withdrawal", "pan": "6222021234567890", "account_id": S1_ACCOUNT,
            "customer_id": S1_CUSTOMER, "terminal_id": "atm-NA-001", "pos_entry_mode": "05", "amount": 50_000}


def test_freeze_by_api_with_dual_control_then_refusal(api: Api, world: World) -> None:
    cid = world.case_of(S1_CUSTOMER)
    assert api.post(f"/v1/cases/{cid}/transition", "analyst", {"to": "investigating"}).status_code == 200
    req = api.post("/v1/account-actions", "supervisor", {
        "target_kind": "account", "target_id": S1_ACCOUNT, "action": "freeze",
        "legal_basis": "anti_telecom_fraud_art18", "reason": "counterfeit", "case_id": cid,
        "customer_id": S1_CUSTOMER})
    assert req.status_code == 201
    aid = req.json()["action_id"]
    same = api.post(f"/v1/account-actions/{aid}/approve", "supervisor")
    assert same.status_code == 403 and "dual control" in same.json()["message"]
    assert api.post(f"/v1/account-actions/{aid}/approve", "analyst").status_code == 403
    ok = api.post(f"/v1/account-actions/{aid}/approve", "supervisor2")
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    assert api.post(f"/v1/account-actions/{aid}/approve", "admin").status_code == 409
    states = api.get("/v1/account-states", "analyst").json()
    assert states == [{**states[0], "target_kind": "account", "target_id": S1_ACCOUNT, "state": "frozen"}]
    d = api.post("/v1/events", "integrator", _event("api-after-freeze"))
    assert d.status_code == 200 and d.json()["action"] == "freeze" and d.json()["reasons"][0] == "account.frozen"
    notices = api.get(f"/v1/cases/{cid}/notices", "analyst").json()
    assert notices[0]["kind"] == "freeze" and len(notices[0]["sms"]["zh"]) <= 70


def test_case_detail_report_and_evidence(api: Api, world: World) -> None:
    cid = world.case_of(S1_CUSTOMER)
    detail = api.get(f"/v1/cases/{cid}", "analyst").json()
    assert detail["case"]["case_id"] == cid and len(detail["alerts"]) >= 4
    assert api.post(f"/v1/cases/{cid}/notes", "analyst", {"text": "called"}).status_code == 201
    att = api.client.post(f"/v1/cases/{cid}/attachments", params={"name": "photo.jpg"}, content=b"\xff\xd8jpeg",
                          headers={**api.h("analyst"), "Content-Type": "image/jpeg"})
    assert att.status_code == 201 and att.json()["media_type"] == "image/jpeg"
    assert api.post(f"/v1/cases/{cid}/footage", "analyst", {
        "camera_id": "cam-1", "start": "2026-03-12T20:36:00+08:00", "end": "2026-03-12T20:52:00+08:00",
        "uri": "cctv://x", "sha256": "0" * 64}).status_code == 201
    assert api.post(f"/v1/cases/{cid}/evidence/collect", "analyst").json()["added"] > 0
    kinds = [e["kind"] for e in api.get(f"/v1/cases/{cid}/evidence", "analyst").json()]
    assert kinds[:3] == ["note", "attachment", "footage_ref"]
    for lang in ("zh", "en"):
        pdf = api.get(f"/v1/cases/{cid}/report.pdf", "analyst", params={"lang": lang})
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
    assert api.get(f"/v1/cases/{cid}/events", "analyst").json()[0]["event_time"]


def test_dispute_and_reserve_by_api(api: Api, world: World) -> None:
    cid = world.case_of(S1_CUSTOMER)
    assert api.post("/v1/reserve/fund", "supervisor2", {"amount": 100_000_00, "memo": "q1"}).status_code == 201
    d = api.post("/v1/disputes", "analyst", {
        "case_id": cid, "customer_id": S1_CUSTOMER, "account_id": S1_ACCOUNT, "claimed": 18_950_00,
        "facts": {"counterfeit_card": True, "bank_detected": False, "pin_negligence": True}}).json()
    a = api.post(f"/v1/disputes/{d['dispute_id']}/assess", "analyst", {}).json()
    assert a["assessment"]["bank_amount"] == 13_265_00 and a["assessment"]["customer_amount"] == 5_685_00
    s = api.post(f"/v1/disputes/{d['dispute_id']}/settle", "supervisor")
    assert s.status_code == 200 and s.json()["paid"] == 13_265_00
    reserve = api.get("/v1/reserve", "analyst").json()
    assert reserve["available"] == 100_000_00 - 13_265_00
    assert api.post(f"/v1/cases/{cid}/recoveries", "supervisor", {"amount": 1_000_00}).status_code == 201
    assert api.get("/v1/reserve", "analyst").json()["available"] == 100_000_00 - 12_265_00
    bad = api.post("/v1/disputes", "analyst", {"case_id": cid, "customer_id": "c", "account_id": "a",
                                              "claimed": 1.5})
    assert bad.status_code == 422


def test_alert_intake_and_terminal_flags(api: Api) -> None:
    flag = {"kind": "compromise.terminal", "reason": "compromise.skimming_suspected",
            "entity": {"terminal_id": "atm-LI-003"}, "title": {"zh": "t", "en": "t"},
            "summary": {"zh": "终端疑似侧录", "en": "suspected skimmer"}, "flagged_at": 1_773_300_000.0,
            "score": 9.1, "test": {"p_value": 1e-9}, "window": {"start": 0, "end": 1}, "evidence": []}
    r = api.post("/v1/alerts", "integrator", {"terminal_flag": flag})
    assert r.status_code == 201
    again = api.post("/v1/alerts", "integrator", {"terminal_flag": flag})
    assert again.json()["case_id"] == r.json()["case_id"]
    case = api.get(f"/v1/cases/{r.json()['case_id']}", "analyst").json()
    assert case["case"]["group"] == {"kind": "terminal", "key": "atm-LI-003"} and case["case"]["priority"] == 95
    assert api.post("/v1/alerts", "integrator", {"alert": {"alert_id": "x"}}).status_code == 422
    assert api.post("/v1/alerts", "analyst", {"terminal_flag": flag}).status_code == 403


def test_live_decisions_open_cases_without_a_sync(api: Api, world: World) -> None:
    """An insider's bulk pull decided through ``POST /v1/events`` is in the queue at once: the
    employee's case opens on the first alert and the next alerts join it."""
    def pull(i: int) -> dict[str, Any]:
        return {"type": "staff_access", "event_id": f"live-pull-{i}", "event_time": f"2026-03-12T22:{10 + i}:00+08:00",
                "employee_id": "emp-live", "branch_id": "branch-01", "customer_id": f"cust-9{i:07d}",
                "customer_branch_id": "branch-05", "query_type": "credit_report", "records": 2000}

    assert not [c for c in api.get("/v1/cases", "analyst").json() if c["group"]["key"] == "emp-live"]
    first = api.post("/v1/events", "integrator", pull(0)).json()
    assert first["action"] != "allow"
    mine = [c for c in api.get("/v1/cases", "analyst").json() if c["group"]["key"] == "emp-live"]
    assert len(mine) == 1 and mine[0]["alert_count"] == 1 and mine[0]["group"]["kind"] == "employee"
    api.post("/v1/events", "integrator", pull(1))
    api.post("/v1/events", "integrator", pull(0))  # a resend: same decision, no second alert
    mine = [c for c in api.get("/v1/cases", "analyst").json() if c["group"]["key"] == "emp-live"]
    assert len(mine) == 1 and mine[0]["alert_count"] == 2
