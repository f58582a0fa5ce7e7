"""Constant-rate mode for the push-to-talk media path: a tunnel in front of the media relay (or the
bridge's media link) whose traffic has the same packet sizes and timing whether anyone talks or not.

::

  PttClient ──ws (device-local)──▶ CbrTunnelClient ══ constant rate ══▶ CbrTunnelServer ──ws──▶ relay
                                    (on the device)   (the observed link)  (next to the relay)

Both ends send one frame of :mod:`dunpai.comms.location.constant_rate` every ``interval_s`` on a
fixed schedule, in both directions, for as long as the session is open: the next queued fragment
of a relay message (a sealed media frame, a floor message, the hello) if there is one, cover
otherwise, every frame the same size. A relay message is cut into fragments of up to
``payload_bytes - 1`` bytes, each prefixed with one byte of flags (text/binary, last fragment); a
sealed 20 ms voice frame (91 bytes) fits one frame. The relay and the ``PttClient`` are unchanged:
the client talks to its tunnel end as to a relay, the server end talks to the relay as a client.

Keys: the client sends an ephemeral X25519 key; the server answers with one of its own; both
derive the two direction keys with HKDF-SHA256 from DH(ephemeral, ephemeral) and DH(client
ephemeral, server static), so only the holder of the pinned static key (given to clients as hex)
can read or fake the stream. Opening and closing the tunnel are visible; what happens inside is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from dunpai.comms.errors import CommsError, DecryptionFailed, MalformedFrame
from dunpai.comms.location.constant_rate import CbrConfig, CbrReceiver, CbrSender

# One sealed media frame (15-byte header + 60-byte Opus CBR + 16-byte tag) plus the flags byte.
PTT_CBR = CbrConfig(interval_s=0.02, payload_bytes=92)
TEXT, LAST = 1, 2
MAX_QUEUE = 500            # fragments (10 s at 20 ms); newer media beyond it is dropped, never control
MAX_MESSAGE = 4_096
SPIN_S = 0.002             # the last wait before each slot is a precise, blocking sleep
HANDSHAKE_TIMEOUT_S = 10.0
_INFO = b"dunpai-cbr-tunnel-v1"
_silent = logging.getLogger("dunpai.comms.cbr-tunnel-internal")
_silent.addHandler(logging.NullHandler())
_silent.propagate = False
_silent.setLevel(logging.CRITICAL + 1)

Observer = Callable[[int, str, float, int], None]   # (session, "in" | "out", time, bytes on the wire)
Peer = ServerConnection | ClientConnection


def _keys(shared: bytes, client_pub: bytes, server_pub: bytes) -> tuple[bytes, bytes]:
    """(client -> server key, server -> client key)."""
    okm = HKDF(hashes.SHA256(), 64, salt=client_pub + server_pub, info=_INFO).derive(shared)
    return okm[:32], okm[32:]


def _raw(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return pub.public_bytes_raw()


@dataclass
class CbrPipe:
    """One constant-rate session over ``ws``: ``put`` queues a relay message; ``run`` sends a frame
    every interval (fragment or cover) and hands each reassembled incoming message to ``deliver``."""

    ws: Peer
    send_key: bytes = field(repr=False)
    recv_key: bytes = field(repr=False)
    deliver: Callable[[str | bytes], Awaitable[None]]
    cfg: CbrConfig = PTT_CBR
    observe: Callable[[str, float, int], None] | None = None
    clock: Callable[[], float] = time.perf_counter
    dropped: int = 0
    _queue: deque[bytes] = field(default_factory=deque)
    _sender: CbrSender | None = None

    def put(self, msg: str | bytes) -> None:
        data, text = (msg.encode(), TEXT) if isinstance(msg, str) else (msg, 0)
        if len(data) > MAX_MESSAGE:
            raise MalformedFrame("message too large for the constant-rate tunnel")
        step = self.cfg.payload_bytes - 1
        pieces = [data[i:i + step] for i in range(0, len(data), step)] or [b""]
        if not text and len(self._queue) + len(pieces) > MAX_QUEUE:
            self.dropped += 1  # real-time media that cannot leave within the queue's 10 s is useless
            return
        for i, piece in enumerate(pieces):
            self._queue.append(bytes([text | (LAST if i == len(pieces) - 1 else 0)]) + piece)

    def tick(self) -> None:
        """Send this slot's frame now (the scheduler calls it on the slot): the next queued
        fragment or cover. A synchronous write: nothing else runs between the slot and the send."""
        if self._sender is None:
            self._sender = CbrSender(self.send_key, self.cfg)
        frame = self._sender.frame(self._queue.popleft() if self._queue else None)
        broadcast([self.ws], frame)
        if self.observe is not None:
            self.observe("out", self.clock(), len(frame))

    async def _receive_loop(self) -> None:
        receiver, parts = CbrReceiver(self.recv_key, self.cfg), bytearray()
        async for raw in self.ws:
            if self.observe is not None:
                self.observe("in", self.clock(), len(raw))
            if not isinstance(raw, bytes):
                raise MalformedFrame("constant-rate tunnel frames are binary")
            chunk = receiver.open(raw)
            if chunk is None or not chunk:
                continue  # cover
            parts += chunk[1:]
            if len(parts) > MAX_MESSAGE:
                raise MalformedFrame("message too large for the constant-rate tunnel")
            if chunk[0] & LAST:
                data, parts = bytes(parts), bytearray()
                await self.deliver(data.decode() if chunk[0] & TEXT else data)

    async def run(self, *others: Awaitable[None]) -> None:
        """Until the link, or any of ``others`` (e.g. the inner connection's reader), ends."""
        scheduler = SlotScheduler.of(self.cfg.interval_s)
        scheduler.add(self)
        tasks = [asyncio.ensure_future(a) for a in (self._receive_loop(), *others)]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            scheduler.remove(self)
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, CommsError):
                    await t


_SCHEDULERS: dict[tuple[int, float], SlotScheduler] = {}  # (event loop, interval) -> its scheduler


class SlotScheduler:
    """The send clock of one event loop: at every slot of a common grid (multiples of the interval
    since an arbitrary epoch) it sends each open session's frame. It waits for a slot asynchronously
    until ``SPIN_S`` before it and the rest in a blocking sleep, so the send time depends neither on
    the event loop's timer granularity nor on whether other traffic (someone talking) happens to
    wake the loop - one precise wait per slot for all sessions of the process."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.pipes: list[CbrPipe] = []
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, interval_s: float) -> SlotScheduler:
        key = (id(asyncio.get_running_loop()), interval_s)
        found = _SCHEDULERS.get(key)
        if found is None or found._task is None or found._task.done():
            found = _SCHEDULERS[key] = cls(interval_s)
        return found

    def add(self, pipe: CbrPipe) -> None:
        self.pipes.append(pipe)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    def remove(self, pipe: CbrPipe) -> None:
        if pipe in self.pipes:
            self.pipes.remove(pipe)

    async def _run(self) -> None:
        clock, step = time.perf_counter, self.interval_s
        k = int(clock() / step) + 1
        try:
            while self.pipes:
                target = k * step
                early = target - SPIN_S - clock()
                if early > 0:
                    await asyncio.sleep(early)
                rest = target - clock()
                if rest > 0:
                    time.sleep(rest)  # the last ~2 ms: precise, whatever else the loop has to do
                for pipe in list(self.pipes):
                    pipe.tick()
                k += 1
                if clock() > (k + 10) * step:  # far behind (the machine stalled): resynchronise
                    k = int(clock() / step) + 1
        finally:
            for key, value in list(_SCHEDULERS.items()):
                if value is self:
                    del _SCHEDULERS[key]


async def _forward(source: Peer, pipe: CbrPipe) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for msg in source:
            pipe.put(msg)


@dataclass(eq=False)
class CbrTunnelServer:
    """The relay-side end: one upstream connection to ``upstream_url`` per tunnel session."""

    upstream_url: str
    static_key: X25519PrivateKey = field(repr=False)
    cfg: CbrConfig = PTT_CBR
    observe: Observer | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: Server | None = None

    @property
    def public_key(self) -> bytes:
        return _raw(self.static_key)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await serve(self._handle, host, port, compression=None, server_header=None,
                                   max_size=self.cfg.wire_bytes, logger=_silent, ping_interval=None)
        return int(next(iter(self._server.sockets)).getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        session = next(self._ids)
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                client_pub = await ws.recv()
            if not isinstance(client_pub, bytes) or len(client_pub) != 32:
                raise DecryptionFailed("tunnel handshake refused")
            eph = X25519PrivateKey.generate()
            peer = X25519PublicKey.from_public_bytes(client_pub)
            c2s, s2c = _keys(eph.exchange(peer) + self.static_key.exchange(peer), client_pub, _raw(eph))
            await ws.send(_raw(eph))
        except (TimeoutError, ValueError, CommsError, ConnectionClosed):
            await ws.close()
            return
        try:
            upstream = await connect(self.upstream_url, compression=None, max_size=MAX_MESSAGE, logger=_silent)
        except (OSError, TimeoutError, ConnectionClosed):
            await ws.close()
            return
        observe = self.observe
        pipe = CbrPipe(ws, s2c, c2s, upstream.send, self.cfg,
                       None if observe is None else lambda d, t, n: observe(session, d, t, n))
        try:
            await pipe.run(_forward(upstream, pipe))
        finally:
            await upstream.close()
            await ws.close()


@dataclass(eq=False)
class CbrTunnelClient:
    """The device-side end: a local listener (loopback) that a ``PttClient`` uses as its relay URL."""

    tunnel_url: str
    server_key: bytes = field(repr=False)   # the server's pinned static X25519 public key
    cfg: CbrConfig = PTT_CBR
    observe: Observer | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = await serve(self._handle, host, port, compression=None, server_header=None,
                                   max_size=MAX_MESSAGE, logger=_silent, ping_interval=None)
        return f"ws://{host}:{next(iter(self._server.sockets)).getsockname()[1]}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, local: ServerConnection) -> None:
        session = next(self._ids)
        try:
            link = await connect(self.tunnel_url, compression=None, max_size=self.cfg.wire_bytes, logger=_silent,
                                 ping_interval=None)
        except (OSError, TimeoutError, ConnectionClosed):
            await local.close()
            return
        try:
            eph = X25519PrivateKey.generate()
            await link.send(_raw(eph))
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                server_pub = await link.recv()
            if not isinstance(server_pub, bytes) or len(server_pub) != 32:
                raise DecryptionFailed("tunnel handshake refused")
            shared = eph.exchange(X25519PublicKey.from_public_bytes(server_pub)) + \
                eph.exchange(X25519PublicKey.from_public_bytes(self.server_key))
            c2s, s2c = _keys(shared, _raw(eph), server_pub)
            observe = self.observe
            pipe = CbrPipe(link, c2s, s2c, local.send, self.cfg,
                           None if observe is None else lambda d, t, n: observe(session, d, t, n))
            await pipe.run(_forward(local, pipe))
        except (TimeoutError, ValueError, CommsError, ConnectionClosed):
            pass
        finally:
            await link.close()
            await local.close()
