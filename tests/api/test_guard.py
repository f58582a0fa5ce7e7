"""Body limits before the body is read, on every route (issue 14, item 3), and security headers on
every response, errors included (item 14). Driven at the ASGI level so the test sees how much of
the body the server actually pulled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dunpai.api.guard import MAX_ATTACHMENT, MAX_BODY
from tests.risk.conftest import Api, card_event

CHUNK = 64 * 1024


class Body:
    """A request body of ``total`` bytes handed out in 64 KiB chunks, counting what was pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0

    async def receive(self) -> dict[str, Any]:
        if self.pulled >= self.total:
            return {"type": "http.disconnect"}
        n = min(CHUNK, self.total - self.pulled)
        self.pulled += n
        return {"type": "http.request", "body": b"x" * n, "more_body": self.pulled < self.total}


def call(app: Any, method: str, path: str, body: Body, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "path": path,
             "raw_path": path.encode(), "root_path": "", "scheme": "http", "query_string": b"", "headers": raw,
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8600)}
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, body.receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


ROUTES = [("POST", "/v1/events"), ("POST", "/v1/account-actions"), ("POST", "/v1/rulesets"),
          ("POST", "/v1/alerts"), ("POST", "/v1/cases/cas_x/attachments"), ("POST", "/console/signin")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_declared_oversized_body_is_refused_unread(api: Api, method: str, path: str) -> None:
    from dunpai.api.cases import install_cases

    app = api.client.app
    if not hasattr(app.state, "incidents"):
        from dunpai.risk.cases import Incidents

        install_cases(app, Incidents.for_risk(api.service, api.service.audit))
    body = Body(60 * 1024 * 1024)
    status, headers = call(app, method, path, body, {**api.h("admin"), "content-length": str(body.total)})
    assert status == 413 and body.pulled == 0
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(("path", "limit"), [("/v1/account-actions", MAX_BODY), ("/v1/events", MAX_BODY),
                                             ("/v1/cases/cas_x/attachments", MAX_ATTACHMENT)])
def test_a_chunked_body_is_read_only_up_to_the_limit(api: Api, path: str, limit: int) -> None:
    body = Body(40 * 1024 * 1024)  # 40 MiB sent without a length
    status, _ = call(api.client.app, "POST", path, body, api.h("admin"))
    assert status == 413
    assert body.pulled <= limit + CHUNK  # stopped at the first chunk past the limit


def test_a_body_within_the_limit_still_works(api: Api) -> None:
    r = api.post_event(card_event(1))
    assert r.status_code == 200, r.text
    big = api.client.post("/v1/events", content=b"{" + b" " * (MAX_BODY + 1) + b"}",
                          headers={**api.h("integrator"), "content-type": "application/json"})
    assert big.status_code == 413 and big.json()["code"] == "too_large"
    assert big.json()["problems"] == [{"field": "$", "problem": f"over {MAX_BODY} bytes"}]


def test_every_response_carries_the_security_headers(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    def bug(*_args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(api.service, "explain", bug)
    server_error = TestClient(api.client.app, raise_server_exceptions=False).get("/v1/decisions/dec_x",
                                                                                 headers=api.h("analyst"))
    assert server_error.status_code == 500 and server_error.json() == {"code": "internal", "message": "internal error"}
    responses = {
        "server error": server_error,
        "health": api.client.get("/health"),
        "unauthenticated": api.client.get("/metrics"),
        "not found": api.client.get("/nowhere", headers=api.h("admin")),
        "method not allowed": api.client.delete("/health"),
        "invalid event": api.client.post("/v1/events", json={"type": "card_present"}, headers=api.h("integrator")),
        "decision": api.post_event(card_event(2)),
        "forbidden": api.client.get("/v1/rulesets", headers=api.h("integrator")),
        "openapi": api.client.get("/openapi.json"),
    }
    for name, r in responses.items():
        assert r.headers.get("x-content-type-options") == "nosniff", name
        assert r.headers.get("referrer-policy") == "no-referrer", name
        assert r.headers.get("x-frame-options") == "DENY", name
        assert "frame-ancestors 'none'" in r.headers.get("content-security-policy", ""), name
        assert r.headers.get("cache-control") == "no-store", name
    docs = api.client.get("/docs")
    assert "script-src 'self' 'unsafe-inline'" in docs.headers["content-security-policy"]  # its start-up script
    asset = api.client.get("/docs/assets/swagger-ui.css")
    assert asset.headers["cache-control"] == "public, max-age=86400"  # a route's own choice is kept
    assert asset.headers["x-content-type-options"] == "nosniff"
