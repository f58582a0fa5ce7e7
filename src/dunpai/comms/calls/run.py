"""Whole calls for the CLI: place, answer or join a call, talk from files (or the sound device),
write what was heard to files.

Each function runs one call with a :class:`~dunpai.comms.calls.agent.CallAgent` on a logged-in
client: the signalling and the media key over the E2E channel, a relay ticket from the comms
service, voice (and video) through the relay. After connecting it waits until the other party is
on the relay, sends the WAV file (and video file) in real time × ``pace``, then stays until the
other side hangs up or ``seconds`` have passed since connecting, and hangs up. What each other
participant sent is written to ``out_dir`` as ``<user>.wav`` (and ``<user>.mkv`` for video).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dunpai.comms.calls import signalling as sg
from dunpai.comms.calls.agent import CallAgent
from dunpai.comms.client.client import CommsClient, Received
from dunpai.comms.errors import CommsError
from dunpai.comms.media import codec, video


@dataclass(frozen=True)
class CallPlan:
    out_dir: Path
    wav: Path | None = None
    video_in: Path | None = None
    mic: bool = False
    speaker: bool = False
    seconds: float = 60.0
    pace: float = 1.0
    muted: bool = False
    present_wait_s: float = 10.0
    expect: tuple[str, ...] = ()       # group call: wait for these participants before talking

    def __post_init__(self) -> None:
        if self.wav is not None and self.mic:
            raise ValueError("give either a WAV file or --mic, not both")
        if self.wav is not None and not self.wav.is_file():
            raise ValueError(f"wav: {self.wav} does not exist")
        if self.video_in is not None and not self.video_in.is_file():
            raise ValueError(f"video: {self.video_in} does not exist")
        if not 0 < self.seconds <= 86_400:
            raise ValueError("seconds must be in (0, 86400]")
        if not 0 <= self.pace <= 10:
            raise ValueError("pace must be 0 … 10")

    @property
    def media(self) -> str:
        return "video" if self.video_in is not None else "audio"


@dataclass
class CallReport:
    outcome: str                       # connected | rejected | busy | timeout | missed | no_call
    call_id: str | None = None
    ended: str | None = None           # why the call ended (EndReason), when it was connected
    sent_audio_frames: int = 0
    sent_video_frames: int = 0
    heard: list[dict[str, Any]] = field(default_factory=list)


def _outcome(ev: sg.Event) -> str:
    return str(ev.reason) if ev.reason is not None else ev.kind


async def _audio_source(plan: CallPlan) -> AsyncIterator[codec.PCM] | codec.PCM | None:
    if plan.mic:
        from dunpai.comms.media.sound import microphone_frames, require_sound_device

        require_sound_device("microphone")
        return microphone_frames(plan.seconds)
    if plan.wav is not None:
        return codec.read_wav(plan.wav)
    return None


async def _converse(agent: CallAgent, plan: CallPlan, peers: set[str], report: CallReport) -> None:
    media = agent.media
    if media is None:
        raise CommsError("the call has no media connection")
    started = time.monotonic()
    speaker = None
    if plan.speaker:
        from dunpai.comms.media.sound import Speaker

        speaker = Speaker()
        decoders: dict[str, codec.OpusDecoder] = {}

        def play(sender: str, packet: bytes) -> None:
            assert speaker is not None
            speaker.play(decoders.setdefault(sender, codec.OpusDecoder()).decode(packet))

        media.on_audio = play
    try:
        with contextlib.suppress(TimeoutError):
            await media.wait_present(peers | {agent.client.user}, timeout=plan.present_wait_s)
            if agent.phone.call is not None and agent.phone.call.group_id is not None and peers:
                await _keyed(agent, peers, plan.present_wait_s)
        if plan.muted:
            await agent.mute(True)
        source = await _audio_source(plan)
        sends = []
        if isinstance(source, AsyncIterator):
            sends.append(media.send_audio_frames(source, stop=agent.ended))
        elif source is not None:
            sends.append(media.send_audio(source, pace=plan.pace, stop=agent.ended))
        if plan.video_in is not None:
            images, fps = video.read_video(plan.video_in)
            sends.append(media.send_video(images, fps, pace=plan.pace, stop=agent.ended))
        results = await asyncio.gather(*sends)
        if source is not None:
            report.sent_audio_frames = results[0]
        if plan.video_in is not None:
            report.sent_video_frames = results[-1]
        left = plan.seconds - (time.monotonic() - started)
        if left > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await agent.ended.wait()
        await asyncio.sleep(0.2)  # frames still in flight
    finally:
        if speaker is not None:
            speaker.close()
    await agent.hangup()


async def _keyed(agent: CallAgent, peers: set[str], timeout: float) -> None:
    """Group call: wait for a media key naming ``peers`` (it comes over Olm from the key maker),
    then a moment for the others to receive it too."""
    async with asyncio.timeout(timeout):
        while agent.key is None or not peers <= set(agent.key.roster):
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)


def _write(agent: CallAgent, plan: CallPlan, report: CallReport) -> None:
    media = agent.last_media
    if media is None:
        return
    for sender, stream in sorted(media.streams.items()):
        entry: dict[str, Any] = {"sender": sender, "audio_frames": len(stream.audio)}
        if stream.audio:
            path = plan.out_dir / f"{sender}.wav"
            codec.write_wav(path, stream.pcm())
            entry["wav"] = str(path)
        if stream.video:
            images = stream.images()
            path = plan.out_dir / f"{sender}.mkv"
            video.write_video(path, images, video.DEFAULT_FPS)
            entry.update(video_frames=len(images), mkv=str(path), video_incomplete=stream.video_incomplete)
        report.heard.append(entry)


async def place_call(client: CommsClient, peer: str, plan: CallPlan, *, ring_timeout_s: float = 30.0,
                     relay_url: str | None = None, on_other: Callable[[Received], None] = lambda m: None,
                     ) -> CallReport:
    async with CallAgent(client, relay_url=relay_url, ring_timeout_ms=int(ring_timeout_s * 1000),
                         on_other=on_other) as agent:
        call_id = await agent.place(peer, media=plan.media)
        ev = await agent.wait_for("connected", "ended", timeout=ring_timeout_s + 10)
        report = CallReport("connected" if ev.kind == "connected" else _outcome(ev), call_id)
        if ev.kind == "connected":
            await converse(agent, plan, {peer}, report)
        else:
            _write(agent, plan, report)
        return report


async def answer_call(client: CommsClient, plan: CallPlan, *, wait_s: float = 30.0, reject: bool = False,
                      relay_url: str | None = None, on_other: Callable[[Received], None] = lambda m: None,
                      ) -> CallReport:
    async with CallAgent(client, relay_url=relay_url, on_other=on_other) as agent:
        try:
            ev = await agent.wait_for("incoming", timeout=wait_s)
        except TimeoutError:
            return CallReport("no_call")
        if reject:
            await agent.reject()
            return CallReport("rejected", ev.call_id)
        await agent.accept()
        report = CallReport("connected", ev.call_id)
        await converse(agent, plan, {str(ev.who)}, report)
        return report


async def join_group_call(client: CommsClient, group_id: str, call_id: str, plan: CallPlan, *,
                          relay_url: str | None = None, on_other: Callable[[Received], None] = lambda m: None,
                          ) -> CallReport:
    async with CallAgent(client, relay_url=relay_url, on_other=on_other) as agent:
        await agent.join_group(group_id, call_id, media=plan.media)
        report = CallReport("connected", call_id)
        await converse(agent, plan, set(plan.expect) - {client.user}, report)
        return report


async def converse(agent: CallAgent, plan: CallPlan, peers: set[str], report: CallReport) -> None:
    """Talk and listen until the call ends; then note how it ended and write what was heard."""
    try:
        await _converse(agent, plan, peers, report)
    finally:
        report.ended = _ended(agent)
        _write(agent, plan, report)


def _ended(agent: CallAgent) -> str | None:
    return str(agent.phone.ended[-1][1]) if agent.phone.ended else None
