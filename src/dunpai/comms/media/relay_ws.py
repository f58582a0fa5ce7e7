"""WebSocket transport of the media relay (loopback by default).

Like the comms service, it never reads, stores or logs a peer's network address (websockets' own
logger is silenced) and sends none to anyone: connections are known by an opaque counter.
``record`` (tests) sees every message the relay handles, in and out.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from dunpai.comms.errors import CommsError
from dunpai.comms.media import floor as fl
from dunpai.comms.media.relay import MAX_CONTROL_FRAME, Out, RelayCore

log = logging.getLogger("dunpai.comms.relay")
_silent = logging.getLogger("dunpai.comms.relay-ws-internal")
_silent.addHandler(logging.NullHandler())
_silent.propagate = False
_silent.setLevel(logging.CRITICAL + 1)

Recorder = Callable[[str, int, str | bytes], None]


class RelayInternal(CommsError):
    code = "internal"


def _error(exc: CommsError) -> str:
    import json

    return json.dumps({"v": 1, "type": "error", "code": exc.code, "message": exc.message}, ensure_ascii=False)


@dataclass(eq=False)
class MediaRelay:
    secret: bytes = field(repr=False)
    config: fl.FloorConfig = field(default_factory=fl.FloorConfig)
    clock_ms: Callable[[], int] = field(default=lambda: time.monotonic_ns() // 1_000_000)
    tick_s: float = 0.05
    record: Recorder | None = None
    # ticket expiry: tickets carry Unix time (the issuing service's clock); floor timers use clock_ms
    wall_clock_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    core: RelayCore = field(init=False)
    _ws: dict[int, ServerConnection] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: Server | None = None
    _ticker: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.core = RelayCore(self.secret, self.config)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await serve(self._handle, host, port, compression=None, server_header=None,
                                   max_size=MAX_CONTROL_FRAME, logger=_silent, ping_interval=20, ping_timeout=20)
        self._ticker = asyncio.create_task(self._tick())
        return int(next(iter(self._server.sockets)).getsockname()[1])

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _send(self, outs: list[Out]) -> None:
        # broadcast() writes at once without waiting on slow readers: real-time media is not held
        # back for one congested listener (its socket buffers or it disconnects), and the order of
        # messages to each connection is kept.
        for o in outs:
            ws = self._ws.get(o.conn)
            if ws is None:
                continue
            if self.record is not None:
                self.record("out", o.conn, o.data)
            broadcast([ws], o.data)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            await self._send(self.core.tick(self.clock_ms()))

    async def _handle(self, ws: ServerConnection) -> None:
        conn = next(self._ids)
        self._ws[conn] = ws
        try:
            async for raw in ws:
                if self.record is not None:
                    self.record("in", conn, raw)
                try:
                    if isinstance(raw, bytes):
                        outs = self.core.media(conn, raw, self.clock_ms())
                    else:
                        outs = self.core.control(conn, raw, self.clock_ms(), self.wall_clock_ms())
                except fl.FloorError:
                    continue  # media from someone without the floor: dropped (counted in stats)
                except CommsError as exc:
                    await self._send([Out(conn, _error(exc))])
                    continue
                except Exception as exc:  # a bug must not take the relay down; log the type only
                    log.error("relay internal error (%s)", type(exc).__name__)
                    await self._send([Out(conn, _error(RelayInternal("internal error")))])
                    continue
                await self._send(outs)
        except ConnectionClosed:
            pass
        finally:
            outs = self.core.disconnect(conn, self.clock_ms())
            del self._ws[conn]
            await self._send(outs)
