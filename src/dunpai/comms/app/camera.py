"""Video in the page's 1:1 calls: the browser's camera into the call, the other side's video to the page.

The page draws its camera into a 320×240 canvas ten times a second and sends each picture over the
app's WebSocket as ``0x03`` ‖ JPEG (tens of kilobytes, where raw pixels would be 300). This process
decodes and encodes the pictures (VP8, :mod:`dunpai.comms.media.video`), fragments and seals every frame with
the call's media key and sends it to the relay — the CLI's video call path
(:meth:`~dunpai.comms.media.call_media.CallMediaClient.send_video_frames`), no other crypto. Whole
frames from the other side are opened and decoded here and sent to the page as ``0x04`` ‖ JPEG: a
few kilobytes a picture, so a window that falls behind holds little. Unencrypted video and keys
leave this process only to the user's own window.

A camera that is switched off (or absent) simply sends nothing: the other page shows that no
video arrives; the call's voice goes on unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Callable

import numpy as np
from websockets.exceptions import ConnectionClosed

from dunpai.comms.errors import CommsError, MalformedFrame
from dunpai.comms.media.call_media import CallMediaClient
from dunpai.comms.media.video import Image, VideoDecoder, check_size

CAMERA, PICTURE = 0x03, 0x04
MAX_CAMERA_FRAME = 1024 * 1024
FPS = 10
"""Pictures a second the page sends (and the VP8 encoder's rate: a key frame every second)."""
QUEUE = 3
"""Camera pictures waiting for the encoder; when it falls behind the oldest is dropped (live video)."""
JPEG_QUALITY = 85
EmitMedia = Callable[[bytes], None]


def camera_frame(data: bytes) -> Image:
    """A camera picture from the page: ``0x03`` ‖ a JPEG of even width and height, 16 … 1920 pixels
    (checked before the pixels are decoded)."""
    from PIL import Image as PilImage
    from PIL import UnidentifiedImageError

    if not 1 < len(data) <= MAX_CAMERA_FRAME or data[0] != CAMERA:
        raise MalformedFrame(f"video: a camera frame is 0x03 and a JPEG of at most {MAX_CAMERA_FRAME} bytes")
    try:
        with PilImage.open(io.BytesIO(data[1:]), formats=["JPEG"]) as img:
            check_size(*img.size)
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except ValueError as exc:
        raise MalformedFrame(str(exc)) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise MalformedFrame("video: the camera frame is not a JPEG") from exc


def picture_frame(image: Image) -> bytes:
    """A decoded picture for the page: ``0x04`` ‖ JPEG."""
    from PIL import Image as PilImage

    out = io.BytesIO()
    PilImage.fromarray(image, "RGB").save(out, format="JPEG", quality=JPEG_QUALITY)
    return bytes([PICTURE]) + out.getvalue()


class CallVideo:
    """The video of one connected call: the page's camera out, the other side's pictures in."""

    def __init__(self, media: CallMediaClient, ended: asyncio.Event, emit_media: EmitMedia) -> None:
        self.media, self.ended, self.emit_media = media, ended, emit_media
        self.sent = 0        # camera pictures encoded, sealed and sent
        self.shown = 0       # pictures decoded and sent to the page
        self._queue: asyncio.Queue[Image] = asyncio.Queue(maxsize=QUEUE)
        self._decoders: dict[str, VideoDecoder] = {}
        media.on_video = self._arrived
        self._task = asyncio.create_task(self._send())

    def camera(self, image: Image) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(image)

    def _arrived(self, sender: str, packet: bytes) -> None:
        for image in self._decoders.setdefault(sender, VideoDecoder()).decode(packet):
            self.emit_media(picture_frame(image))
            self.shown += 1

    async def _pictures(self) -> AsyncIterator[Image]:
        while True:
            yield await self._queue.get()
            self.sent += 1  # (the encoder asks for the next one once this one is sealed and sent)

    async def _send(self) -> None:
        with contextlib.suppress(CommsError, OSError, ConnectionClosed):  # the call ended under it
            await self.media.send_video_frames(self._pictures(), FPS, stop=self.ended)

    async def close(self) -> None:
        self.media.on_video = None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def view(self) -> dict[str, int]:
        return {"sent": self.sent, "shown": self.shown}
