"""Push-to-talk client: joins a talk-group on the relay, asks for the floor, talks, listens.

Audio is Opus at constant bit-rate, each packet sealed per frame with the sender's key derived
from the talk-group's media key (which arrives over the E2E channel, never from the relay).
Received frames are opened, attributed to their sender and decoded per talk-burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from dunpai.comms.errors import CommsError
from dunpai.comms.media.codec import FRAME_MS, PCM, OpusDecoder, OpusEncoder, frames_of
from dunpai.comms.media.sframe import FrameOpener, FrameSealer, MediaKey

FLOOR_TYPES = {"floor_granted", "floor_deny", "floor_queued", "floor_taken", "floor_idle", "floor_revoke",
               "floor_status"}


@dataclass
class Burst:
    """What a listener heard from one talker in one talk-burst."""

    talker: str
    burst: int | None = None
    packets: list[bytes] = field(default_factory=list)
    arrival_s: list[float] = field(default_factory=list)

    def pcm(self) -> PCM:
        dec = OpusDecoder()
        parts = [dec.decode(p) for p in self.packets]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


class PttClient:
    def __init__(self, url: str, ticket: str, key: MediaKey, user: str, *,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.url, self.user, self.clock = url, user, clock
        self._ticket = ticket
        self._key = key
        self._sealer = FrameSealer(key, user)
        self._opener = FrameOpener(key)
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.log: list[dict[str, Any]] = []          # every control frame received, in order
        self.bursts: list[Burst] = []
        self.rejected = 0
        self.talker: str | None = None
        self.burst: int | None = None
        self.revoked = asyncio.Event()  # set by Floor Revoke: the talker must stop
        # (sender, frame counter, Opus packet), called on arrival (benchmarks decode and time it)
        self.on_frame: Callable[[str, int, bytes], None] | None = None

    def rekey(self, key: MediaKey) -> None:
        """A new media key arrived over E2E (someone joined or left): seal with it from now on."""
        self._key = key
        self._sealer = FrameSealer(key, self.user)
        self._opener.add_key(key)

    async def connect(self) -> dict[str, Any]:
        self._ws = await connect(self.url, compression=None, max_size=4096)
        self._reader = asyncio.create_task(self._read())
        await self._ws.send(json.dumps({"v": 1, "type": "hello", "ticket": self._ticket}))
        welcome = await self.expect("welcome")
        if welcome.get("mode") != "call":
            await self.expect("floor_status")
        return welcome

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read(self) -> None:
        ws = self._ws
        if ws is None:
            return
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                if isinstance(raw, bytes):
                    self._on_media(raw)
                    continue
                msg = json.loads(raw)
                self.log.append(msg)
                self._on_control(msg)
                self.events.put_nowait(msg)

    def _on_control(self, msg: dict[str, Any]) -> None:
        """Track floor state from a control frame (before it is queued as an event)."""
        kind = msg.get("type")
        if kind in ("floor_taken", "floor_status", "floor_granted"):
            self.talker, self.burst = msg.get("talker"), msg.get("burst")
            if kind == "floor_granted":
                self.revoked.clear()
        elif kind == "floor_idle":
            self.talker = self.burst = None
        elif kind == "floor_revoke":
            self.revoked.set()

    def _on_media(self, frame: bytes) -> None:
        try:
            sender, packet = self._opener.open(frame)
        except CommsError:
            self.rejected += 1
            return
        now = self.clock()
        last = self.bursts[-1] if self.bursts else None
        if last is None or last.talker != sender or last.burst != self.burst:
            self.bursts.append(Burst(sender, self.burst))
        self.bursts[-1].packets.append(packet)
        self.bursts[-1].arrival_s.append(now)
        if self.on_frame is not None:
            self.on_frame(sender, int.from_bytes(frame[7:15], "big"), packet)

    async def expect(self, *types: str, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for the next control frame of one of ``types`` (others are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.events.get()
                if msg.get("type") == "error":
                    raise CommsError(str(msg.get("message")))
                if msg.get("type") in types:
                    return msg

    async def request_floor(self, *, emergency: bool = False) -> None:
        await self._control({"type": "floor_request", "emergency": emergency})

    async def release_floor(self) -> None:
        await self._control({"type": "floor_release"})

    async def _control(self, body: dict[str, Any]) -> None:
        if self._ws is None:
            raise CommsError("not connected")
        await self._ws.send(json.dumps({"v": 1, **body}))

    def seal_packets(self, packets: Iterable[bytes]) -> list[bytes]:
        return [self._sealer.seal(p) for p in packets]

    async def send_frame(self, frame: bytes) -> None:
        if self._ws is None:
            raise CommsError("not connected")
        await self._ws.send(frame)

    async def talk(self, pcm: PCM, *, pace: float = 1.0, encoder: OpusEncoder | None = None,
                   stop: asyncio.Event | None = None) -> int:
        """Encode, seal and send ``pcm`` in 20 ms frames, one every ``pace`` × 20 ms (1.0 = real time,
        0 = as fast as possible).

        Stops early when ``stop`` is set (e.g. the floor was revoked). Returns frames sent.
        """
        enc = encoder or OpusEncoder()
        sent = 0
        start = self.clock()
        for i, f in enumerate(frames_of(pcm)):
            if stop is not None and stop.is_set():
                break
            for p in enc.encode(f):
                await self.send_frame(self._sealer.seal(p))
                sent += 1
            if pace > 0:
                delay = start + (i + 1) * pace * FRAME_MS / 1000 - self.clock()
                if delay > 0:
                    await asyncio.sleep(delay)
        return sent
