"""Request/response plumbing over one WebSocket: ids, futures, error mapping, server pushes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from dunpai.comms import errors as e
from dunpai.comms.protocol import frames as f

_ERRORS: dict[str, type[e.CommsError]] = {
    cls.code: cls for cls in vars(e).values() if isinstance(cls, type) and issubclass(cls, e.CommsError)
}

PushHandler = Callable[[Any], Awaitable[None] | None]


def error_from(frame: f.Error) -> e.CommsError:
    return _ERRORS.get(frame.code, e.CommsError)(frame.message)


class Connection:
    def __init__(self, ws: ClientConnection, challenge: str, on_push: Callable[[Any], None],
                 timeout_s: float = 30.0) -> None:
        self.ws = ws
        self.challenge = challenge
        self._on_push = on_push
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._timeout = timeout_s
        self._reader = asyncio.create_task(self._read())
        self.closed = asyncio.Event()

    @classmethod
    async def open(cls, url: str, on_push: Callable[[Any], None], ssl_context: ssl.SSLContext | None = None,
                   timeout_s: float = 30.0) -> Connection:
        ws = await connect(url, ssl=ssl_context, compression=None, max_size=f.MAX_FRAME_BYTES,
                           open_timeout=timeout_s, user_agent_header=None)
        async with asyncio.timeout(timeout_s):
            first = f.parse_server_frame(await ws.recv())
        if not isinstance(first, f.Challenge):
            await ws.close()
            raise e.MalformedFrame("service did not start with a challenge")
        return cls(ws, first.nonce, on_push, timeout_s)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                try:
                    frame = f.parse_server_frame(raw)
                except e.CommsError:
                    continue  # a malformed frame from the service is dropped, never acted on
                if isinstance(frame, f.Ok | f.Error) and frame.id is not None and frame.id in self._pending:
                    fut = self._pending.pop(frame.id)
                    if not fut.done():
                        if isinstance(frame, f.Ok):
                            fut.set_result(frame.result)
                        else:
                            fut.set_exception(error_from(frame))
                elif not isinstance(frame, f.Ok):
                    self._on_push(frame)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(e.CommsError("connection closed"))
            self._pending.clear()

    async def request(self, frame_type: type[f._Request], **fields: Any) -> dict[str, Any]:
        rid = next(self._ids)
        frame = frame_type(id=rid, **fields)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self.ws.send(f.encode(frame))
        except ConnectionClosed as exc:
            self._pending.pop(rid, None)
            raise e.CommsError("connection closed") from exc
        async with asyncio.timeout(self._timeout):  # not wait_for: on 3.11 it can swallow a cancel
            return await fut

    async def notify(self, frame_type: type[f._Request], **fields: Any) -> None:
        """Send a request whose answer nobody waits for (id 0; its ``ok`` is dropped, an ``error`` is
        reported as a push)."""
        try:
            await self.ws.send(f.encode(frame_type(id=0, **fields)))
        except ConnectionClosed as exc:
            raise e.CommsError("connection closed") from exc

    async def send_raw(self, text: str | bytes) -> None:
        await self.ws.send(text)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
