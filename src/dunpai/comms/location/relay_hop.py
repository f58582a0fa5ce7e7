"""An optional relay hop: a client reaches its service through a relay, so the service sees the
relay's address, never the client's.

The hop forwards TCP bytes both ways and nothing else: with ``wss://`` the TLS session runs from the
client to the service through it, so the hop sees ciphertext only. It never reads, stores or logs a
peer address; it counts connections and bytes. (Run it on another host, operated by someone other
than the service, for it to hide anything; a hop the service operator also runs hides nothing.)
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

CHUNK = 64 * 1024


@dataclass
class HopStats:
    connections: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


@dataclass
class RelayHop:
    upstream_host: str
    upstream_port: int
    stats: HopStats = field(default_factory=HopStats)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._handle, host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: bool) -> None:
        try:
            while data := await reader.read(CHUNK):
                writer.write(data)
                await writer.drain()
                if up:
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(ConnectionError, RuntimeError):
                writer.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.stats.connections += 1
        try:
            try:
                up_r, up_w = await asyncio.open_connection(self.upstream_host, self.upstream_port)
            except OSError:
                client_w.close()
                return
            await asyncio.gather(self._pipe(client_r, up_w, True), self._pipe(up_r, client_w, False))
        finally:
            if task is not None:
                self._tasks.discard(task)
