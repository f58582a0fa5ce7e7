"""Only the user's own browser window drives the app: the launch secret, the session cookie, the
Host and Origin checks, and the headers every answer carries."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from dunpai.comms.app.run import AppHost, AppOptions
from dunpai.comms.app.web import MAX_JSON, MAX_SCAN, Guard, create_web

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


def test_every_answer_carries_the_headers_errors_included(tmp_path: Path) -> None:
    """Starlette's own 404, 405 and 500 used to go out bare (issue 14, item 14)."""
    host = AppHost(AppOptions(tmp_path / "home"), None)
    guard = Guard(PORT)
    c = TestClient(create_web(host, guard), base_url=f"http://127.0.0.1:{PORT}", raise_server_exceptions=False)
    _signed_in_as(c, guard)
    host.messenger = _Broken()  # type: ignore[assignment]
    answers = {"not found": c.get("/nowhere"), "method not allowed": c.delete("/api/state"),
               "server error": c.get("/api/state"), "forbidden": c.get("/", headers={"Host": "evil.example"})}
    for name, r in answers.items():
        assert r.headers.get("x-content-type-options") == "nosniff", name
        assert "frame-ancestors 'none'" in r.headers.get("content-security-policy", ""), name
        assert r.headers.get("cache-control") == "no-store", name
    assert answers["server error"].status_code == 500 and answers["not found"].status_code == 404


class _Broken:
    def snapshot(self) -> dict[str, object]:
        raise RuntimeError("a bug")


def _signed_in_as(c: TestClient, guard: Guard) -> None:
    assert c.get(f"/?k={guard.secret}", follow_redirects=False).status_code == 303


class _Pulled:
    """An ASGI request body of ``total`` bytes in 64 KiB chunks, counting how much the app pulled."""

    def __init__(self, total: int) -> None:
        self.total, self.pulled = total, 0

    async def receive(self) -> dict[str, Any]:
        if self.pulled >= self.total:
            return {"type": "http.disconnect"}
        n = min(65536, self.total - self.pulled)
        self.pulled += n
        return {"type": "http.request", "body": b" " * n, "more_body": self.pulled < self.total}


def _post_asgi(app: Any, guard: Guard, path: str, body: _Pulled, length: int | None) -> int:
    headers = [(b"host", f"127.0.0.1:{PORT}".encode()), (b"origin", guard.origin.encode()),
               (b"cookie", f"{guard.cookie}={guard.session}".encode())]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "path": path,
             "raw_path": path.encode(), "root_path": "", "scheme": "http", "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", PORT)}
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, body.receive, send))
    return int(next(m for m in sent if m["type"] == "http.response.start")["status"])


@pytest.mark.parametrize(("path", "limit"), [("/api/send", MAX_JSON), ("/api/enrol", MAX_JSON),
                                             ("/api/verify-scan", MAX_SCAN)])
def test_bodies_are_bounded_before_they_are_read(tmp_path: Path, path: str, limit: int) -> None:
    """A JSON body was read whole, whatever its size (issue 14, item 3)."""
    guard = Guard(PORT)
    app = create_web(AppHost(AppOptions(tmp_path / "home"), None), guard)
    declared = _Pulled(40 * 1024 * 1024)
    assert _post_asgi(app, guard, path, declared, declared.total) == 413
    assert declared.pulled == 0  # refused unread
    chunked = _Pulled(40 * 1024 * 1024)  # sent without a length: read only up to the limit
    assert _post_asgi(app, guard, path, chunked, None) == 413
    assert chunked.pulled <= limit + 65536
