"""The console over HTTP (no browser): sign-in, sessions and CSRF, tenant isolation, languages,
page views audited and sent to the insider detector as staff data-access events."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dunpai.risk.storage.tables import events
from tests.web.conftest import USERS, ConsoleWorld, signin_token


@pytest.fixture
def world(console_world: ConsoleWorld) -> ConsoleWorld:
    return console_world


def client(world: ConsoleWorld, user: str | None = None) -> TestClient:
    c = TestClient(world.app)
    if user is not None:
        r = c.post("/signin", data={"username": user, "password": USERS[user][0], "next": "/queue",
                                    "csrf": signin_token(c)}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/queue"
        assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    return c


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m
    return m.group(1)


def _s1(world: ConsoleWorld) -> str:
    return next(c.case_id for c in world.inc.cases.queue(_staff(), limit=100) if c.group_key == "cust-00000")


def _staff() -> object:
    from dunpai.risk.cases import Staff

    return Staff("t", "supervisor")


def test_pages_need_a_session(world: ConsoleWorld) -> None:
    c = client(world)
    for path in ("/queue", f"/cases/{_s1(world)}", "/dashboard", "/rules", "/actions"):
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/signin"), path
    for name in ("li.na", "nobody"):
        r = c.post("/signin", data={"username": name, "password": "nope", "csrf": signin_token(c)})
        assert r.status_code == 401


def test_forms_need_the_csrf_token(world: ConsoleWorld) -> None:
    c = client(world, "li.na")
    cid = _s1(world)
    r = c.post(f"/cases/{cid}/note", data={"csrf": "forged", "text": "x"})
    assert r.status_code == 403
    token = _csrf(c.get(f"/cases/{cid}").text)
    assert c.post(f"/cases/{cid}/note", data={"csrf": token, "text": "real note"},
                  follow_redirects=False).status_code == 303


def test_case_views_are_audited_and_become_staff_access_events(world: ConsoleWorld) -> None:
    c = client(world, "li.na")
    cid = _s1(world)
    assert c.get(f"/cases/{cid}").status_code == 200
    with world.risk.db.connect() as conn:
        bodies = [json.loads(b) for (b,) in conn.execute(select(events.c.body).where(
            events.c.event_type == "staff_access"))]
    mine = [b for b in bodies if b["employee_id"] == "E1001" and b.get("business_ref") == cid]
    assert mine and mine[-1]["customer_id"] == "cust-00000" and mine[-1]["branch_id"] == "NN01"
    assert ("li.na", "data.view", "default/customer/cust-00000") in [(a, b, s) for a, b, s, _ in world.audit.entries]


def test_other_tenant_gets_404(world: ConsoleWorld) -> None:
    c = client(world, "mallory")
    assert "cust-00000" not in c.get("/queue").text
    r = c.get(f"/cases/{_s1(world)}")
    assert r.status_code == 404 and "no such case" in r.text
    assert c.get(f"/cases/{_s1(world)}/report.pdf").status_code == 404


def test_languages_and_report(world: ConsoleWorld) -> None:
    c = client(world, "li.na")
    assert "预警队列" in c.get("/queue").text
    en = c.get("/queue?lang=en")
    assert "Alert queue" in en.text and "dunpai_lang=en" in en.headers["set-cookie"]
    assert "Alert queue" in c.get("/queue").text  # remembered
    pdf = c.get(f"/cases/{_s1(world)}/report.pdf?lang=zh")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_security_headers_and_local_plotly(world: ConsoleWorld) -> None:
    c = client(world, "li.na")
    r = c.get(f"/cases/{_s1(world)}")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "cdn" not in r.text.lower() and "/static/plotly.min.js" in r.text
    js = c.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert c.get("/static/../app.py").status_code == 404


def test_sign_out_ends_the_session(world: ConsoleWorld) -> None:
    c = client(world, "wang.qiang")
    token = _csrf(c.get("/queue").text)
    assert c.post("/signout", data={"csrf": token}, follow_redirects=False).status_code == 303
    assert c.get("/queue", follow_redirects=False).status_code == 303


def test_staff_passwords_are_argon2(world: ConsoleWorld, tmp_path: Path) -> None:
    from dunpai.risk.cases.tables import staff_users

    with world.risk.db.connect() as conn:
        hashes = [h for (h,) in conn.execute(select(staff_users.c.password_hash))]
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
