"""Constant-rate mode for the push-to-talk media path: a tunnel in front of the media relay (or the
bridge's media link) whose traffic has the same packet sizes and timing whether anyone talks or not.

::

  PttClient ──ws (device-local)──▶ CbrTunnelClient ══ constant rate ══▶ CbrTunnelServer ──ws──▶ relay
                                    (on the device)   (the observed link)  (next to the relay)

Both ends send one frame of :mod:`dunpai.comms.location.constant_rate` every ``interval_s`` on a
fixed schedule, in both directions, for as long as the session is open: the next queued fragment
of a relay message (a sealed media frame, a floor message, the hello) if there is one, cover
otherwise, every frame the same size. The frames leave from a dedicated sender thread
(:class:`SlotSender`) at absolute deadlines, sealed one slot ahead. A relay message is cut into fragments of up to
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
import os
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from dunpai.comms.errors import CommsError, DecryptionFailed, MalformedFrame
from dunpai.comms.location.constant_rate import CbrConfig, CbrReceiver, CbrSender

# One sealed media frame (15-byte header + 60-byte Opus CBR + 16-byte tag) plus the flags byte.
PTT_CBR = CbrConfig(interval_s=0.02, payload_bytes=92)
TEXT, LAST = 1, 2
MAX_QUEUE = 500            # fragments (10 s at 20 ms); newer media beyond it is dropped, never control
MAX_MESSAGE = 4_096
REALTIME_PRIORITY = 10     # SCHED_FIFO priority of the sender thread, where permitted
SWITCH_S = 0.0001          # interpreter lock hand-over interval in a process with a sender thread
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
    """One constant-rate session over ``ws``: ``put`` queues a relay message; ``run`` has the
    process's :class:`SlotSender` send a frame every interval (fragment or cover) and hands each
    reassembled incoming message to ``deliver``.

    Frames are sealed and framed one slot ahead (``prepare``, in the sender thread right after a
    send), so at the slot itself the sender only writes bytes that are already complete: the send
    instant does not depend on whether the frame is voice or cover, nor on the event loop."""

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
    _wire: bytes | None = None          # the next slot's frame, sealed and WebSocket-framed
    _sock: socket.socket | None = None  # a duplicate of the connection's socket, for the sender thread
    _broken: Callable[[], None] | None = None
    _dead: bool = False                 # a write failed: the stream is ended, never written again

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

    def prepare(self) -> None:
        """Seal and frame the next slot's frame (the next queued fragment, or cover). Called by the
        sender thread just after a send, so encryption is never on the timing path."""
        if self._sender is None:
            self._sender = CbrSender(self.send_key, self.cfg)
        frame = self._sender.frame(self._queue.popleft() if self._queue else None)
        # RFC 6455: a client masks its frames, a server does not
        self._wire = Frame(Opcode.BINARY, frame).serialize(mask=isinstance(self.ws, ClientConnection))

    def send_prepared(self) -> None:
        """The slot: one non-blocking write of the prepared bytes, nothing else. A peer that has
        stopped reading (the socket buffer is full) ends the session: a constant-rate stream
        cannot wait for it."""
        wire, sock = self._wire, self._sock
        if wire is None or sock is None or self._dead:
            return
        try:
            sent = sock.send(wire, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
        except OSError:
            sent = -1
        if self.observe is not None and sent > 0:
            self.observe("out", self.clock(), self.cfg.wire_bytes)
        if sent != len(wire):
            self._dead = True
            if self._broken is not None:
                self._broken()

    def _attach(self, broken: asyncio.Event) -> None:
        transport = self.ws.transport
        if transport.get_extra_info("sslcontext") is not None:
            raise MalformedFrame("the constant-rate tunnel writes frames itself: plain ws:// only")
        self._sock = socket.socket(fileno=os.dup(transport.get_extra_info("socket").fileno()))
        loop = asyncio.get_running_loop()

        def signal_broken() -> None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(broken.set)

        self._broken = signal_broken
        self.prepare()

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
        for _ in range(100):  # what the library wrote (the handshake) has left before we write directly
            if self.ws.transport.get_write_buffer_size() == 0:
                break
            await asyncio.sleep(0.01)
        broken = asyncio.Event()
        self._attach(broken)
        sender = SlotSender.of(self.cfg.interval_s, self.cfg.realtime)
        sender.add(self)
        tasks = [asyncio.ensure_future(a) for a in (self._receive_loop(), broken.wait(), *others)]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sender.remove(self)
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, CommsError):
                    await t


def _realtime() -> bool:
    """Ask for real-time scheduling (``SCHED_FIFO``) for the calling thread, as audio software
    does, so that a busy machine does not delay the slot; without the privilege (``CAP_SYS_NICE``)
    the thread keeps the normal policy. Returns whether it got it. Not asked at all when the
    configuration says ``realtime=False`` (setting ``comms.constant_rate.realtime``)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    except (AttributeError, OSError):
        return False
    return True


_SENDERS: dict[float, SlotSender] = {}  # interval -> the process's sender
_SENDERS_LOCK = threading.Lock()


class SlotSender:
    """The send clock of one process: a dedicated thread that, at every slot of a common grid
    (multiples of the interval on the monotonic clock), writes each open session's prepared frame
    to its socket and then prepares the next ones. Its deadlines are absolute (``time.sleep`` ends
    at the slot, Linux ``clock_nanosleep``); between the wake-up and the writes it does no
    encryption and takes no event-loop turn, so neither the loop's load nor whether a frame is
    voice or cover moves the send instant. What remains is the operating system's scheduling of
    the thread (it asks for real-time priority, :func:`_realtime`) and the interpreter lock, whose
    hand-over interval is lowered to ``SWITCH_S`` in a process that runs a sender."""

    def __init__(self, interval_s: float, want_realtime: bool = True) -> None:
        self.interval_s = interval_s
        self.want_realtime = want_realtime
        self._pipes: list[CbrPipe] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.realtime: bool | None = None  # whether the thread got real-time scheduling (once started)

    @classmethod
    def of(cls, interval_s: float, want_realtime: bool = True) -> SlotSender:
        """The process's sender for this interval (made by the first caller, whose ``want_realtime``
        decides whether its thread asks for real-time scheduling)."""
        with _SENDERS_LOCK:
            found = _SENDERS.get(interval_s)
            if found is None:
                found = _SENDERS[interval_s] = cls(interval_s, want_realtime)
            return found

    def add(self, pipe: CbrPipe) -> None:
        with self._lock:
            self._pipes.append(pipe)
            if self._thread is None:
                sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_S))
                self._thread = threading.Thread(target=self._run, name="dunpai-cbr-sender", daemon=True)
                self._thread.start()

    def remove(self, pipe: CbrPipe) -> None:
        """After this returns the thread no longer writes to ``pipe``'s socket."""
        with self._lock:
            if pipe in self._pipes:
                self._pipes.remove(pipe)

    def _run(self) -> None:
        self.realtime = _realtime() if self.want_realtime else False
        clock, step = time.monotonic, self.interval_s
        k = int(clock() / step) + 1
        while True:
            delay = k * step - clock()
            if delay > 0:
                time.sleep(delay)
            with self._lock:
                if not self._pipes:
                    self._thread = None
                    return
                pipes = list(self._pipes)
                for pipe in pipes:
                    pipe.send_prepared()
            for pipe in pipes:  # off the timing path: seal and frame the next slot's frames
                pipe.prepare()
            k += 1
            if clock() > (k + 10) * step:  # far behind (the machine stalled): resynchronise
                k = int(clock() / step) + 1


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
