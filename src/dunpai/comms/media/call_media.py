"""Media of a call (1:1 or group) through the relay in ``call`` mode: voice and video, full duplex.

Every participant seals its frames with its own key derived from the call's media key (as in
push-to-talk); the relay forwards every frame to the other participants. Inside the encryption
each frame's payload starts with one byte naming what it carries, so the relay cannot tell voice
from video by content (sizes differ: voice is constant bit-rate, video is not)::

    0x01 | Opus packet                                              (voice, 20 ms)
    0x02 | frame number (4) | fragment index (1) | count (1) | flags (1, bit 0 = key frame) | bytes

A video frame larger than one relay media frame is split into fragments of at most
``VIDEO_CHUNK`` bytes. While muted, the voice stream goes on with encoded silence: packet sizes
and timing stay the same, so muting is not visible to the relay.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dunpai.comms.errors import CommsError, MalformedFrame
from dunpai.comms.media import codec
from dunpai.comms.media.ptt_client import PttClient
from dunpai.comms.media.sframe import MediaKey
from dunpai.comms.media.video import DEFAULT_BITRATE, Image, VideoEncoder, decode_all

AUDIO, VIDEO = 0x01, 0x02
VIDEO_HEADER = struct.Struct(">IBBB")
VIDEO_CHUNK = 1_200


def video_fragments(frame_no: int, packet: bytes, key_frame: bool) -> list[bytes]:
    """Payloads (before sealing) carrying one encoded video frame."""
    chunks = [packet[i : i + VIDEO_CHUNK] for i in range(0, len(packet), VIDEO_CHUNK)] or [b""]
    if len(chunks) > 255:
        raise ValueError("video frame too large (more than 255 fragments); lower the bit-rate")
    return [bytes([VIDEO]) + VIDEO_HEADER.pack(frame_no % 2**32, i, len(chunks), int(key_frame)) + c
            for i, c in enumerate(chunks)]


@dataclass
class SenderStream:
    """What this participant received from one other participant."""

    audio: list[bytes] = field(default_factory=list)
    video: list[bytes] = field(default_factory=list)      # whole encoded frames, in order
    video_incomplete: int = 0
    _frag: tuple[int, int, list[bytes]] | None = None   # (frame number, count, fragments so far)

    def pcm(self) -> codec.PCM:
        return codec.decode_packets(self.audio)

    def images(self) -> list[Image]:
        return decode_all(self.video)[0]

    def add_video(self, body: bytes) -> None:
        if len(body) < VIDEO_HEADER.size:
            raise MalformedFrame("video fragment too short")
        frame_no, index, count, _flags = VIDEO_HEADER.unpack_from(body)
        data = body[VIDEO_HEADER.size :]
        if count == 0 or index >= count:
            raise MalformedFrame("video fragment index out of range")
        if self._frag is None or self._frag[0] != frame_no:
            if self._frag is not None:
                self.video_incomplete += 1  # a frame whose fragments did not all arrive
            self._frag = (frame_no, count, [])
        _, want, parts = self._frag
        if index != len(parts) or want != count:
            self.video_incomplete += 1
            self._frag = None
            return
        parts.append(data)
        if len(parts) == count:
            self.video.append(b"".join(parts))
            self._frag = None


class CallMediaClient(PttClient):
    """One participant's connection to a call on the relay (ticket mode ``call``)."""

    def __init__(self, url: str, ticket: str, key: MediaKey, user: str) -> None:
        super().__init__(url, ticket, key, user)
        self.streams: dict[str, SenderStream] = {}
        self.present: frozenset[str] = frozenset()
        self.muted = False
        self.epoch = key.epoch
        self._present_changed = asyncio.Event()
        self.on_audio: Callable[[str, bytes], None] | None = None   # (sender, Opus packet) on arrival
        self.on_video: Callable[[str, bytes], None] | None = None   # (sender, whole VP8 frame) on arrival
        # keep what arrived in :attr:`streams` (files are written from it after the call); a live
        # client that plays frames as they come (on_audio / on_video) turns it off
        self.keep = True

    def add_key(self, key: MediaKey) -> None:
        """A key for this call arrived: keep it for opening; seal with it if it is newer."""
        if key.epoch > self.epoch:
            self.rekey(key)
            self.epoch = key.epoch
        else:
            self._opener.add_key(key)

    def _on_media(self, frame: bytes) -> None:
        try:
            sender, payload = self._opener.open(frame)
            stream = self.streams.setdefault(sender, SenderStream())
            if payload[:1] == bytes([AUDIO]):
                stream.audio.append(payload[1:])
                if self.on_audio is not None:
                    self.on_audio(sender, payload[1:])
            elif payload[:1] == bytes([VIDEO]):
                whole = len(stream.video)
                stream.add_video(payload[1:])
                if self.on_video is not None and len(stream.video) > whole:
                    self.on_video(sender, stream.video[-1])
            else:
                raise MalformedFrame("unknown call payload")
            if not self.keep:
                stream.audio.clear()
                stream.video.clear()
        except CommsError:
            self.rejected += 1

    def _on_control(self, msg: dict[str, Any]) -> None:
        if msg.get("type") == "present" and isinstance(msg.get("users"), list):
            self.present = frozenset(str(u) for u in msg["users"])
            self._present_changed.set()

    async def connect(self) -> dict[str, Any]:
        welcome = await super().connect()
        if welcome.get("mode") != "call":
            raise CommsError("the relay ticket is not for a call")
        return welcome

    async def wait_present(self, users: Iterable[str], timeout: float = 10.0) -> None:
        """Wait until all ``users`` are connected to the call on the relay."""
        want = frozenset(users)
        async with asyncio.timeout(timeout):
            while not want <= self.present:
                self._present_changed.clear()
                await self._present_changed.wait()

    async def send_audio(self, pcm: codec.PCM, *, pace: float = 1.0, stop: asyncio.Event | None = None) -> int:
        """Encode (Opus CBR), seal and send ``pcm`` in 20 ms frames at ``pace`` × real time; while
        :attr:`muted` the frames are silence. Returns frames sent."""
        return await self.send_audio_frames(codec.frames_of(pcm), pace=pace, stop=stop)

    async def send_audio_frames(self, frames: Iterable[codec.PCM] | AsyncIterable[codec.PCM], *,
                                pace: float = 1.0, stop: asyncio.Event | None = None) -> int:
        """Send 20 ms frames; a synchronous source is paced at ``pace`` × real time, an asynchronous
        one (a microphone) paces itself."""
        enc = codec.OpusEncoder()
        silence = np.zeros(codec.FRAME_SAMPLES, dtype=np.int16)
        sent = 0
        start = self.clock()

        async def one(f: codec.PCM) -> None:
            nonlocal sent
            for p in enc.encode(silence if self.muted else f):
                await self.send_frame(self._sealer.seal(bytes([AUDIO]) + p))
                sent += 1

        if isinstance(frames, AsyncIterable):
            async for f in frames:
                if stop is not None and stop.is_set():
                    break
                await one(f)
            return sent
        for i, f in enumerate(frames):
            if stop is not None and stop.is_set():
                break
            await one(f)
            if pace > 0:
                delay = start + (i + 1) * pace * codec.FRAME_MS / 1000 - self.clock()
                if delay > 0:
                    await asyncio.sleep(delay)
        return sent

    async def send_video_frames(self, images: AsyncIterable[Image], fps: int, *, stop: asyncio.Event | None = None,
                                bitrate: int = DEFAULT_BITRATE) -> int:
        """Encode (VP8), fragment, seal and send frames of a live source (a camera), which paces
        itself; a frame of another size starts a new encoder (its first frame is a key frame).
        Returns frames sent."""
        enc: VideoEncoder | None = None
        sent = 0
        async for img in images:
            if stop is not None and stop.is_set():
                break
            h, w = img.shape[:2]
            if enc is None or (enc.width, enc.height) != (w, h):
                enc = VideoEncoder(w, h, fps, bitrate)
            for packet, key_frame in enc.encode(img):
                for part in video_fragments(sent, packet, key_frame):
                    await self.send_frame(self._sealer.seal(part))
                sent += 1
        return sent

    async def send_video(self, images: list[Image], fps: int, *, pace: float = 1.0,
                         stop: asyncio.Event | None = None, bitrate: int = DEFAULT_BITRATE) -> int:
        """Encode (VP8), fragment, seal and send ``images`` at ``fps`` × 1/``pace``. Returns frames sent."""
        if not images:
            return 0
        h, w = images[0].shape[:2]
        enc = VideoEncoder(w, h, fps, bitrate)
        sent = 0
        start = self.clock()
        for i, img in enumerate(images):
            if stop is not None and stop.is_set():
                break
            for packet, key_frame in enc.encode(img):
                for part in video_fragments(sent, packet, key_frame):
                    await self.send_frame(self._sealer.seal(part))
                sent += 1
            if pace > 0:
                delay = start + (i + 1) * pace / fps - self.clock()
                if delay > 0:
                    await asyncio.sleep(delay)
        for packet, key_frame in enc.flush():
            for part in video_fragments(sent, packet, key_frame):
                await self.send_frame(self._sealer.seal(part))
            sent += 1
        return sent
