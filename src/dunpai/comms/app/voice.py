"""Push-to-talk and calls in the page: the browser's microphone and speaker on the existing
per-frame end-to-end media path of the local client.

The browser sends its microphone as 20 ms frames of 48 kHz 16-bit PCM over the app's WebSocket
(``0x01`` ‖ 960 samples, little-endian); this process encodes them (Opus, constant bit-rate), seals
each frame with the talk-group's or call's media key and sends it to the relay. What arrives from
the relay is opened, decoded and sent to the browser as ``0x02`` ‖ PCM to play. Keys and
unencrypted audio stay between this process and the user's own window.

* Talk-groups (:class:`~dunpai.comms.media.ptt_client.PttClient`): hold-to-talk asks for the floor
  (``floor_request``, optionally ``emergency``) and releasing the button releases it; the floor state
  (who talks, queue position, pre-emption) is shown as the relay reports it. The media key comes
  over Megolm; a member who joins without a key for the current members makes one and sends it.
* Calls (:class:`~dunpai.comms.calls.agent.CallAgent`): 1:1 voice and video calls; ring, accept,
  reject, hang up, mute; the call's media key rides inside the Olm ``ring``. The page's camera
  (``0x03`` frames) goes into the call and the other side's video comes back as pictures
  (:mod:`dunpai.comms.app.camera`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
from websockets.exceptions import ConnectionClosed

from dunpai.comms.app.camera import CAMERA, CallVideo, camera_frame
from dunpai.comms.calls.agent import CallAgent
from dunpai.comms.client.client import CommsClient, Received
from dunpai.comms.errors import CommsError, MalformedFrame
from dunpai.comms.media import codec, sessions
from dunpai.comms.media.ptt_client import PttClient
from dunpai.comms.media.sframe import MediaKey

MIC, PLAY = 0x01, 0x02
FRAME_BYTES = codec.FRAME_SAMPLES * 2
KEY_WAIT_S = 1.5
Emit = Callable[[dict[str, Any]], None]
EmitAudio = Callable[[bytes], None]


def pcm_frame(data: bytes) -> codec.PCM:
    """A microphone frame from the browser: exactly 960 little-endian 16-bit samples."""
    if len(data) != 1 + FRAME_BYTES or data[0] != MIC:
        raise MalformedFrame("audio: a frame is 0x01 followed by 960 16-bit samples")
    return np.frombuffer(data, dtype="<i2", offset=1).astype(np.int16)


def play_frame(pcm: codec.PCM) -> bytes:
    return bytes([PLAY]) + pcm.astype("<i2").tobytes()


class TalkGroup:
    """This user on one talk-group, with the floor state as the relay reports it."""

    def __init__(self, group_id: str, ptt: PttClient, emit: Emit, emit_audio: EmitAudio) -> None:
        self.group_id, self.ptt, self.emit, self.emit_audio = group_id, ptt, emit, emit_audio
        self.holder: str | None = None
        self.emergency = False
        self.state = "idle"          # idle | requested | queued | talking
        self.position: int | None = None
        self.last_event = ""
        self._encoder: codec.OpusEncoder | None = None
        self._decoders: dict[str, codec.OpusDecoder] = {}
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.ptt.connect()
        self.holder = self.ptt.talker
        self.ptt.on_frame = self._heard
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self.state != "idle":
            with contextlib.suppress(CommsError, OSError):
                await self.release()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self.ptt.close()

    def view(self) -> dict[str, Any]:
        return {"group": self.group_id, "holder": self.holder, "emergency": self.emergency, "state": self.state,
                "position": self.position, "event": self.last_event}

    def _changed(self, event: str) -> None:
        self.last_event = event
        self.emit({"type": "floor", **self.view()})

    def _heard(self, sender: str, _counter: int, packet: bytes) -> None:
        self.emit_audio(play_frame(self._decoders.setdefault(sender, codec.OpusDecoder()).decode(packet)))

    async def press(self, emergency: bool) -> None:
        if self.state != "idle":
            return
        self.state = "requested"
        await self.ptt.request_floor(emergency=emergency)
        self._changed("requested")

    async def release(self) -> None:
        if self.state == "idle":
            return
        self.state, self.position, self._encoder = "idle", None, None
        await self.ptt.release_floor()
        self._changed("released")

    async def microphone(self, pcm: codec.PCM) -> None:
        if self.state != "talking":
            return
        if self._encoder is None:
            self._encoder = codec.OpusEncoder()
        for sealed in self.ptt.seal_packets(self._encoder.encode(pcm)):
            await self.ptt.send_frame(sealed)

    async def _read(self) -> None:
        me = self.ptt.user
        while True:
            msg = await self.ptt.events.get()
            kind, talker = str(msg.get("type")), msg.get("talker")
            if kind == "floor_granted":
                self.holder, self.state, self.position = me, "talking", None
                self.emergency = bool(msg.get("emergency"))
            elif kind == "floor_queued":
                self.state, self.position = "queued", msg.get("position")
            elif kind in ("floor_taken", "floor_status"):
                self.holder = None if talker is None else str(talker)
                self.emergency = bool(msg.get("emergency"))
                if self.state == "talking" and talker != me:
                    self.state = "idle"
            elif kind == "floor_idle":
                self.holder, self.emergency = None, False
                if self.state == "talking":
                    self.state = "idle"
            elif kind == "floor_deny":
                self.state = "idle"
            elif kind == "floor_revoke":  # pre-empted (or talked too long): stop at once
                self.state, self._encoder = "idle", None
                with contextlib.suppress(CommsError, OSError):
                    await self.ptt.release_floor()
            elif kind != "error":
                continue
            self._changed(kind)


class Voice:
    """Talk-groups and calls of one app; the composition wires :attr:`agent`'s other messages to the
    messenger, which hands media keys back here (:meth:`on_media_key`)."""

    def __init__(self, client: CommsClient, agent: CallAgent, emit: Emit, emit_audio: EmitAudio,
                 relay_url: str | None = None) -> None:
        self.client, self.agent, self.emit, self.emit_audio = client, agent, emit, emit_audio
        self.relay_url = relay_url
        self.talkgroup: TalkGroup | None = None
        self.group_keys: dict[str, MediaKey] = {}
        self._key_arrived = asyncio.Event()
        self._mic: asyncio.Queue[codec.PCM | None] | None = None
        self.video: CallVideo | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._call_events()))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.leave_talkgroup()
        await self._close_video()

    def view(self) -> dict[str, Any]:
        call = self.agent.phone.call
        video = self.video.view() if self.video is not None else {"sent": 0, "shown": 0}
        return {"talkgroup": self.talkgroup.view() if self.talkgroup else None,
                "call": None if call is None else {"peer": call.peer, "phase": call.phase.value, "muted": call.muted,
                                                   "media": call.media, "call_id": call.call_id, "video": video}}

    async def from_window(self, data: bytes) -> None:
        """A binary frame from the page: its microphone (``0x01``) or its camera (``0x03``)."""
        if data[:1] == bytes([CAMERA]):
            image = camera_frame(data)
            if self.video is not None:
                self.video.camera(image)
        else:
            await self.microphone(data)

    # -- talk-groups --------------------------------------------------------------------------------
    def on_media_key(self, m: Received) -> None:
        if m.group_id is None or m.content is None:
            return
        key = MediaKey.from_content(m.content)
        known = self.group_keys.get(m.group_id)
        if key.group_id == m.group_id and (known is None or key.epoch >= known.epoch):
            self.group_keys[m.group_id] = key
            self._key_arrived.set()
            tg = self.talkgroup
            if tg is not None and tg.group_id == m.group_id and key.epoch > tg.ptt._key.epoch:
                tg.ptt.rekey(key)

    async def _key_for(self, group_id: str) -> MediaKey:
        info = await self.client.group_info(group_id)
        members = sorted(str(m["user"]) for m in info["members"])
        deadline = time.monotonic() + KEY_WAIT_S
        while True:
            key = self.group_keys.get(group_id)
            if key is not None and sorted(key.roster) == members:
                return key
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._key_arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._key_arrived.wait()
        key = await sessions.new_group_key(self.client, group_id, os.urandom, time.time())
        self.group_keys[group_id] = key
        return key

    async def join_talkgroup(self, group_id: str) -> None:
        await self.leave_talkgroup()
        url, ticket = await sessions.relay_access(self.client, group_id, self.relay_url, None)
        key = await self._key_for(group_id)
        tg = TalkGroup(group_id, PttClient(url, ticket, key, self.client.user), self.emit, self.emit_audio)
        await tg.start()
        self.talkgroup = tg
        tg._changed("joined")

    async def leave_talkgroup(self) -> None:
        tg, self.talkgroup = self.talkgroup, None
        if tg is not None:
            await tg.close()
            self.emit({"type": "floor", "group": None})

    async def press(self, emergency: bool = False) -> None:
        if self.talkgroup is None:
            raise MalformedFrame("group: join a talk-group first")
        await self.talkgroup.press(emergency)

    async def release(self) -> None:
        if self.talkgroup is not None:
            await self.talkgroup.release()

    async def microphone(self, data: bytes) -> None:
        pcm = pcm_frame(data)
        if self.talkgroup is not None:
            await self.talkgroup.microphone(pcm)
        if self._mic is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._mic.put_nowait(pcm)

    # -- calls --------------------------------------------------------------------------------------
    async def place(self, peer: str, media: str = "audio") -> str:
        """Ring ``peer``; ``media`` is ``audio`` or ``video`` (either side may still send video, or not)."""
        if media not in ("audio", "video"):
            raise MalformedFrame("media: audio or video")
        return await self.agent.place(peer, media=media)

    async def accept(self) -> None:
        await self.agent.accept()

    async def reject(self) -> None:
        await self.agent.reject()

    async def hangup(self) -> None:
        await self.agent.hangup()

    async def mute(self, muted: bool) -> None:
        await self.agent.mute(muted)

    async def _call_events(self) -> None:
        while True:
            ev = await self.agent.events.get()
            if ev.kind == "connected":
                self._start_media()
            elif ev.kind == "ended":
                if self._mic is not None:
                    with contextlib.suppress(asyncio.QueueFull):  # (full: the sender stops on agent.ended)
                        self._mic.put_nowait(None)
                    self._mic = None
                await self._close_video()
            self.emit({"type": "call", "event": ev.kind, "who": ev.who,
                       "reason": None if ev.reason is None else str(ev.reason), **self.view()})

    def _start_media(self) -> None:
        media = self.agent.media
        if media is None:
            return
        decoders: dict[str, codec.OpusDecoder] = {}

        def heard(sender: str, packet: bytes) -> None:
            self.emit_audio(play_frame(decoders.setdefault(sender, codec.OpusDecoder()).decode(packet)))

        media.on_audio = heard
        media.keep = False  # played as it arrives: nothing of the call piles up in memory
        self.video = CallVideo(media, self.agent.ended, self.emit_audio)
        self._mic = asyncio.Queue(maxsize=50)
        queue = self._mic

        async def frames() -> AsyncIterator[codec.PCM]:
            while True:
                pcm = await queue.get()
                if pcm is None:
                    return
                yield pcm

        async def send() -> None:
            with contextlib.suppress(CommsError, OSError, ConnectionClosed):  # the call ended under it
                await media.send_audio_frames(frames(), stop=self.agent.ended)

        self._tasks.append(asyncio.create_task(send()))

    async def _close_video(self) -> None:
        video, self.video = self.video, None
        if video is not None:
            await video.close()
