"""The page's camera in a call, without a browser: the frame formats between the page and the app,
and live video through the call's media client (VP8, fragmented, sealed) to the other side's pictures."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterable

import numpy as np
import pytest

from dunpai.comms.app.camera import (
    CAMERA,
    MAX_CAMERA_FRAME,
    PICTURE,
    QUEUE,
    CallVideo,
    camera_frame,
    picture_frame,
)
from dunpai.comms.errors import MalformedFrame
from dunpai.comms.media import video
from dunpai.comms.media.call_media import CallMediaClient
from dunpai.comms.media.sframe import MediaKey, new_media_key

W, H = 64, 48


def _encoded(image: np.ndarray, kind: str = "JPEG") -> bytes:
    """A camera frame as the page sends it: 0x03 and the picture (as its canvas encodes it)."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(image, "RGB").save(out, format=kind, quality=90)
    return bytes([CAMERA]) + out.getvalue()


class Recording(CallMediaClient):
    """A call's media client that keeps the sealed frames it would send to the relay."""

    def __init__(self, key: MediaKey, user: str) -> None:
        super().__init__("ws://127.0.0.1:9/unused", "ticket", key, user)
        self.sent_frames: list[bytes] = []

    async def send_frame(self, frame: bytes) -> None:
        self.sent_frames.append(frame)


def test_a_camera_frame_is_a_jpeg_of_a_video_size_and_anything_else_is_refused() -> None:
    [image] = video.pattern_frames(1, W, H)
    got = camera_frame(_encoded(image))
    assert got.shape == (H, W, 3) and got.dtype == np.uint8 and video.psnr(got, image) > 25
    good = _encoded(image)
    odd = np.zeros((48, 63, 3), dtype=np.uint8)
    wide = np.zeros((16, 2000, 3), dtype=np.uint8)
    for bad in (b"", bytes([CAMERA]), bytes([0x01]) + good[1:], good[:40], bytes([CAMERA]) + b"not a picture",
                _encoded(image, "PNG"), _encoded(odd), _encoded(wide),
                good + bytes(MAX_CAMERA_FRAME)):
        with pytest.raises(MalformedFrame):
            camera_frame(bad)


def test_a_picture_for_the_page_is_a_jpeg_of_the_decoded_frame() -> None:
    from PIL import Image

    [image] = video.pattern_frames(1, W, H)
    data = picture_frame(image)
    assert data[0] == PICTURE
    with Image.open(io.BytesIO(data[1:])) as img:
        assert img.format == "JPEG" and img.size == (W, H)
        assert video.psnr(np.asarray(img.convert("RGB")), image) > 25


def test_live_video_goes_sealed_to_the_other_side_which_shows_it_and_keeps_nothing() -> None:
    key = new_media_key("call-session", 1, ("alice", "bob"), os.urandom)
    src = video.pattern_frames(12, W, H)
    pictures: list[bytes] = []

    async def scenario() -> tuple[Recording, Recording, int, dict[str, int]]:
        alice, bob = Recording(key, "alice"), Recording(key, "bob")
        ended = asyncio.Event()
        bob.keep = False
        shown = CallVideo(bob, ended, pictures.append)
        sender = CallVideo(alice, ended, lambda _: None)
        for image in src:
            sender.camera(image)
            await asyncio.sleep(0.01)   # the encoder takes each picture as it comes
        for frame in alice.sent_frames:
            bob._on_media(frame)        # what the relay forwards to bob
        view = shown.view()
        await sender.close()
        await shown.close()
        return alice, bob, sender.sent, view

    alice, bob, sent, view = asyncio.run(scenario())
    assert sent == len(src) and view["shown"] == len(src) == len(pictures)
    assert bob.rejected == 0 and bob.streams["alice"].video == []       # shown, not kept
    assert all(p[0] == PICTURE for p in pictures)
    # nothing of the picture is in clear in what went to the relay
    assert not any(bytes.fromhex("9d012a") in f for f in alice.sent_frames)
    from PIL import Image

    last = np.asarray(Image.open(io.BytesIO(pictures[-1][1:])).convert("RGB"))
    assert video.psnr(last, src[-1]) > 22


def test_a_camera_faster_than_the_encoder_loses_its_oldest_pictures() -> None:
    key = new_media_key("call-session", 1, ("alice", "bob"), os.urandom)

    class Stalled(Recording):
        async def send_video_frames(self, images: AsyncIterable[video.Image], fps: int, *,
                                    stop: asyncio.Event | None = None, bitrate: int = video.DEFAULT_BITRATE) -> int:
            await asyncio.Event().wait()   # never takes a picture
            return 0

    async def scenario() -> int:
        media = Stalled(key, "alice")
        cv = CallVideo(media, asyncio.Event(), lambda _: None)
        for image in video.pattern_frames(QUEUE + 5, W, H):
            cv.camera(image)
        waiting = cv._queue.qsize()
        await cv.close()
        return waiting

    assert asyncio.run(scenario()) == QUEUE
