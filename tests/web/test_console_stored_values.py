"""The console never fails on a stored value (issue 14, item 2): alerts and due dates stored before
the API validated them (an infinite time, a score of 10^9, a 3 MB detail, a negative amount, a
100,000-character entity key, a due date of 1e300) leave every page answering."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from dunpai.risk.cases import Staff
from dunpai.risk.cases.model import Alert
from dunpai.web.app import _when, _yuan
from tests.web.conftest import USERS, build_world, signin_token

BOSS = Staff("wang.qiang", "supervisor")


def test_every_page_answers_whatever_was_stored(tmp_path: Path) -> None:
    w = build_world(tmp_path)
    hostile = [
        Alert("alr-inf", "manual", "x", 10**9, float("inf"), {"customer_id": "cust-hostile-1"}, amount=-5,
              currency="xx", detail={"blob": "x" * 3_000_000}),
        Alert("alr-big", "manual", "x", 50, 1e300, {"customer_id": "cust-hostile-2"}),
        Alert("alr-key", "manual", "x", 50, 1_773_330_000.0, {"customer_id": "k" * 100_000}),
    ]
    cases = [w.inc.cases.ingest("default", a)[0] for a in hostile]
    w.inc.cases.set_due(BOSS, cases[1], 1e300)
    c = TestClient(w.app)
    r = c.post("/signin", data={"username": "wang.qiang", "password": USERS["wang.qiang"][0], "next": "/queue",
                                "csrf": signin_token(c)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    for path in ("/queue", "/dashboard", "/actions", "/rules", *(f"/cases/{cid}" for cid in cases)):
        assert c.get(path).status_code == 200, path
    w.risk.db.dispose()


def test_time_and_money_filters_show_a_mark_for_values_that_are_no_time_or_money() -> None:
    for value in (float("inf"), float("nan"), 1e300, "not a time", -1e300):
        assert _when(value) == "?"
    for value in (float("inf"), float("nan"), "many"):
        assert _yuan(value) == "?"
    assert _when(1_773_330_000.0) == "03-12 23:40" and _yuan(12_000) == "¥120.00"
