"""Only the user's own browser window drives the app: the launch secret, the session cookie, the
Host and Origin checks, and the headers every answer carries."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from dunpai.comms.app.run import AppHost, AppOptions
from dunpai.comms.app.web import Guard, create_web

PORT = 47111


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    host = AppHost(AppOptions(tmp_path / "home"), None)
    guard = Guard(PORT)
    c = TestClient(create_web(host, guard), base_url=f"http://127.0.0.1:{PORT}")
    c.guard = guard  # type: ignore[attr-defined]
    return c


def _signed_in(c: TestClient) -> None:
    r = c.get(f"/?k={c.guard.secret}", follow_redirects=False)  # type: ignore[attr-defined]
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and f"dunpai_app_{PORT}=" in cookie


def test_nothing_without_the_launch_secret(client: TestClient) -> None:
    for path in ("/", "/static/app.js", "/api/state", "/api/messages?conv=u:x", "/api/file/m1"):
        assert client.get(path).status_code == 403, path
    assert client.get("/?k=wrong").status_code == 403
    assert client.post("/api/send", json={"conv": "u:x", "text": "hi"}).status_code == 403
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws") as ws:
        ws.receive_text()


def test_the_secret_gives_a_session_that_the_page_uses(client: TestClient) -> None:
    _signed_in(client)
    page = client.get("/")
    assert page.status_code == 200 and "盾牌通信" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert client.get("/api/state").json() == {"type": "snapshot", "enrolled": False}
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/../run.py").status_code in (403, 404)


def test_another_origin_or_host_cannot_drive_it(client: TestClient) -> None:
    _signed_in(client)
    body = {"server": "ws://127.0.0.1:1", "user": "x", "device": "d", "invite": ""}
    assert client.post("/api/enrol", json=body).status_code == 403                       # no Origin
    assert client.post("/api/enrol", json=body, headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.get("/api/state", headers={"Host": "attacker.example:47111"}).status_code == 403  # rebinding
    with pytest.raises(WebSocketDisconnect), client.websocket_connect(
            "/ws", headers={"Origin": "http://localhost:3000"}) as ws:
        ws.receive_text()
    ok = client.post("/api/send", json={"conv": "u:x", "text": "hi"}, headers={"Origin": f"http://127.0.0.1:{PORT}"})
    assert ok.status_code == 409 and ok.json()["error"]["code"] == "not_enrolled"      # past the guard


def test_bad_enrolment_names_the_field(client: TestClient) -> None:
    _signed_in(client)
    r = client.post("/api/enrol", json={"server": "http://x", "user": "u", "device": "d"},
                    headers={"Origin": f"http://127.0.0.1:{PORT}"})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("server:")
    r = client.post("/api/enrol", json={"server": "ws://10.0.0.5:8765", "user": "u", "device": "d"},
                    headers={"Origin": f"http://127.0.0.1:{PORT}"})
    assert r.status_code == 400 and "wss://" in r.json()["error"]["message"]
    r = client.post("/api/enrol", json={"server": "ws://127.0.0.1:1", "device": "d"},
                    headers={"Origin": f"http://127.0.0.1:{PORT}"})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("user:")
