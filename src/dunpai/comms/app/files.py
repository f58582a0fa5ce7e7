"""Files in the app: the size limit, metadata stripping before anything else, device-made previews.

A picture's preview is made on the device from the bytes *after* location metadata was removed
(the sender's) or from the decrypted file (the receiver's), never by the service; it is kept in
the sealed history only.
"""

from __future__ import annotations

import base64
import io

from dunpai.comms.errors import MalformedFrame, TooLarge
from dunpai.comms.protocol.metadata import is_media, strip_metadata

DEFAULT_LIMIT = 64 * 1024 * 1024        # bytes a user may send in one file from the app
PREVIEW_MAX_INPUT = 32 * 1024 * 1024    # larger pictures get no preview
PREVIEW_EDGE = 320
PREVIEW_PIXELS = 64_000_000             # refuse decompression bombs


def check_upload(name: str, mime: str, size: int, limit: int) -> None:
    """Raise a clear error naming the field before anything is read or sent."""
    if not name or len(name) > 255 or "/" in name or "\\" in name or any(ord(c) < 32 for c in name):
        raise MalformedFrame("name: a file name of 1 to 255 characters without path separators")
    if len(mime) > 127 or "/" not in mime:
        raise MalformedFrame("mime: a media type such as image/jpeg")
    if size <= 0:
        raise MalformedFrame("file: empty")
    if size > limit:
        raise TooLarge(f"file: {size} bytes is over the limit of {limit} bytes")


def prepare(data: bytes) -> bytes:
    """The bytes that will be encrypted: location and device metadata removed from media."""
    return strip_metadata(data) if is_media(data) else data


def is_picture(mime: str) -> bool:
    return mime.split(";")[0].strip().lower() in {"image/jpeg", "image/png", "image/webp", "image/gif",
                                                   "image/bmp", "image/tiff"}


def preview(data: bytes) -> str | None:
    """A small JPEG preview (base64), or None when ``data`` is not a picture Pillow can read."""
    if len(data) > PREVIEW_MAX_INPUT:
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > PREVIEW_PIXELS:
                return None
            img.thumbnail((PREVIEW_EDGE, PREVIEW_EDGE))
            out = io.BytesIO()
            img.convert("RGB").save(out, format="JPEG", quality=75)  # a fresh file: no EXIF is copied
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return base64.b64encode(out.getvalue()).decode("ascii")
