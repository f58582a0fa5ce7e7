"""A video call from a video file to a file at the receiver: VP8 sealed per frame, relayed in call
mode; the receiver's video matches what was sent, and the relay saw nothing decodable."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from tests.comms.calls.call_helpers import call_stack, voice_like
from tests.comms.helpers import run

from dunpai.comms.calls.run import CallPlan, answer_call, place_call
from dunpai.comms.media import codec, video
from dunpai.comms.media.call_media import VIDEO_CHUNK, SenderStream, video_fragments
from dunpai.comms.media.sframe import HEADER_LEN

FRAMES = 30
MIN_PSNR_DB = 28.0


def test_video_helpers_round_trip_and_refuse_bad_input(tmp_path: Path) -> None:
    src = video.pattern_frames(4, 64, 48)
    video.write_video(tmp_path / "p.mkv", src, 10)
    back, fps = video.read_video(tmp_path / "p.mkv", 64, 48)
    assert fps == 10 and all(np.array_equal(a, b) for a, b in zip(src, back, strict=True))  # FFV1: lossless
    assert video.psnr(src[0], src[0]) == float("inf") and video.psnr(src[0], src[1]) < 30
    with pytest.raises(ValueError, match=r"\.mkv"):
        video.write_video(tmp_path / "p.mp4", src, 10)
    with pytest.raises(ValueError, match="even"):
        video.VideoEncoder(33, 48)
    with pytest.raises(ValueError, match="does not exist"):
        video.read_video(tmp_path / "missing.mkv")
    (tmp_path / "junk.mkv").write_bytes(b"not a video" * 100)
    with pytest.raises(ValueError, match=r"not a readable video|no video stream"):
        video.read_video(tmp_path / "junk.mkv")
    # fragmentation: a big frame is split and put back together; a lost fragment drops the frame
    big = bytes(range(256)) * 20
    parts = video_fragments(7, big, True)
    assert len(parts) == -(-len(big) // VIDEO_CHUNK)
    s = SenderStream()
    for p in parts:
        s.add_video(p[1:])
    assert s.video == [big]
    for p in video_fragments(8, big, False)[1:]:
        s.add_video(p[1:])
    assert s.video == [big] and s.video_incomplete >= 1


def test_video_call_file_to_file_psnr_and_relay_sees_no_video(tmp_path: Path) -> None:
    handled: list[tuple[str, int, str | bytes]] = []
    src = video.pattern_frames(FRAMES)
    src_path = tmp_path / "pattern.mkv"
    video.write_video(src_path, src, video.DEFAULT_FPS)
    say = voice_like(2.0, 150, 5)
    wav = tmp_path / "say.wav"
    codec.write_wav(wav, say)
    reports = {}

    async def scenario() -> None:
        async with call_stack(tmp_path, ("alice", "bob"), lambda d, c, m: handled.append((d, c, m))) as st:
            caller = CallPlan(tmp_path / "alice-heard", wav=wav, video_in=src_path, seconds=4, pace=0.5)
            callee = CallPlan(tmp_path / "bob-heard", seconds=30, pace=0.5)
            answering = asyncio.create_task(answer_call(st.users["bob"], callee, wait_s=20))
            await asyncio.sleep(0.3)
            reports["alice"] = await place_call(st.users["alice"], "bob", caller, ring_timeout_s=10)
            reports["bob"] = await answering

    run(scenario(), timeout=90)
    a, b = reports["alice"], reports["bob"]
    assert a.outcome == b.outcome == "connected"
    assert a.sent_video_frames == FRAMES and b.ended == "remote_hangup"
    [heard] = b.heard
    assert heard["sender"] == "alice" and heard["video_frames"] == FRAMES and heard["video_incomplete"] == 0
    got, fps = video.read_video(Path(heard["mkv"]))
    assert len(got) == FRAMES and fps == video.DEFAULT_FPS
    scores = [video.psnr(x, y) for x, y in zip(src, got, strict=True)]
    assert min(scores) > MIN_PSNR_DB, scores
    assert codec.similarity(say, codec.read_wav(Path(heard["wav"]))) > 0.8
    # the relay: video-sized sealed frames, none of which decodes as VP8 (nor as a picture)
    media = [m for d, _, m in handled if d == "in" and isinstance(m, bytes)]
    big = [m for m in media if len(m) > 200]
    assert len(big) >= FRAMES
    dec = video.VideoDecoder()
    pictures = [img for m in big for img in dec.decode(m[HEADER_LEN:])]
    pictures += [img for m in big for img in dec.decode(m[HEADER_LEN + 8 :])]  # past our fragment header too
    assert dec.invalid >= len(big)
    assert all(img.shape != src[0].shape or video.psnr(img, src[0]) < 15 for img in pictures)
