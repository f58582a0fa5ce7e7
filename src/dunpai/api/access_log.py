"""One line per HTTP request (method, path, status, bytes, milliseconds) as text or JSON, on the
``dunpai.access`` logger. Never the client's address or the query string: Dunpai neither uses nor
keeps where a caller connects from, and a query could carry an identifier worth protecting."""

from __future__ import annotations

import json
import logging
import time
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOG = logging.getLogger("dunpai.access")
Format = Literal["text", "json"]


class AccessLog:
    """ASGI wrapper around the whole application (so the events fast path is logged too)."""

    def __init__(self, app: ASGIApp, fmt: Format = "text", logger: logging.Logger = LOG) -> None:
        self.app = app
        self.fmt = fmt
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status, size = 500, 0

        async def sending(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.logger.info(self.line(scope["method"], scope["path"], status, size,
                                       (time.perf_counter() - start) * 1000.0))

    def line(self, method: str, path: str, status: int, size: int, ms: float) -> str:
        if self.fmt == "json":
            return json.dumps({"method": method, "path": path, "status": status, "bytes": size,
                               "ms": round(ms, 2)}, ensure_ascii=False)
        return f'"{method} {path}" {status} {size} {ms:.1f}ms'
