"""What every HTTP response and request body passes through, before any route runs.

* **Body limits before the body is read.** A request whose ``Content-Length`` is over its route's
  limit is answered 413 at once, unread (the server holds a client to the length it declared); a
  body sent without a length (chunked) is read here, counted as it arrives, refused the moment it
  passes the limit, and handed to the route only when whole. Limits: 20 MiB for a case
  attachment, 64 KiB for everything else (events, rulesets, JSON bodies, console forms).
* **Security headers on every response**, errors and the events fast path included:
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``, ``X-Frame-Options: DENY``,
  ``Cross-Origin-Resource-Policy: same-origin``, and ``Cache-Control: no-store`` unless the route
  said otherwise; a response without its own Content-Security-Policy gets one that allows nothing
  (``default-src 'none'; frame-ancestors 'none'``). The console and ``/docs`` set their own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from dunpai.core.errors import DunpaiError, FieldProblem

MAX_BODY = 64 * 1024
MAX_ATTACHMENT = 20 * 1024 * 1024
LIMITS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"^/v1/cases/[^/]+/attachments$"), MAX_ATTACHMENT),
)
_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)


class BodyTooLarge(DunpaiError):
    """The request body is over its route's limit (HTTP 413)."""

    code = "too_large"

    def __init__(self, limit: int) -> None:
        super().__init__("request body too large", problems=[FieldProblem("$", f"over {limit} bytes")])


def body_limit(path: str) -> int:
    for pattern, limit in LIMITS:
        if pattern.match(path):
            return limit
    return MAX_BODY


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def with_security_headers(send: Send) -> Send:
    """``send`` that adds each security header the response does not set itself."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {name.lower() for name, _ in headers}
            headers += [(name, value) for name, value in SECURITY_HEADERS if name not in present]
            message = {**message, "headers": headers}
        await send(message)

    return sending


async def _read_bounded(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or ``None`` as soon as it passes ``limit`` (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)  # the client went away: the route sees an empty body
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def receiving() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receiving


async def refuse(send: Send, error: DunpaiError, status: int) -> None:
    payload = json.dumps(error.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})


async def guarded(scope: Scope, receive: Receive, send: Send,
                  app: Callable[[Scope, Receive, Send], Any]) -> None:
    """Run ``app`` on one HTTP request with the limits and headers above."""
    send = with_security_headers(send)
    limit = body_limit(scope["path"])
    declared = _declared_length(scope)
    if declared is not None and declared > limit:
        await refuse(send, BodyTooLarge(limit), 413)
        return
    if declared is None and scope["method"] not in _NO_BODY:
        body = await _read_bounded(receive, limit)
        if body is None:
            await refuse(send, BodyTooLarge(limit), 413)
            return
        receive = _replay(body, receive)
    await app(scope, receive, send)
