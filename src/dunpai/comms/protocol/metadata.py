"""Remove location and device metadata from images and videos before they are encrypted.

Lossless where it can be: JPEG APP1 (EXIF incl. GPS and maker notes, XMP), APP12/APP13 (Photoshop,
IPTC) segments and comments are dropped without re-encoding; PNG ``eXIf``/``tEXt``/``zTXt``/``iTXt``
(XMP) chunks are dropped; WebP ``EXIF``/``XMP `` chunks are dropped; in MP4/MOV the ``udta``, ``meta``
and ``uuid`` (XMP) boxes - where ``©xyz`` GPS and device model live - are overwritten as ``free``
boxes of the same size, so sample offsets stay valid. Other image formats are re-encoded by Pillow
without metadata. Anything else is left unchanged (``is_media`` says whether stripping applied).
"""

from __future__ import annotations

import io
import struct

from dunpai.comms.errors import CommsError

_JPEG_DROP = {0xE1, 0xEC, 0xED, 0xFE}  # APP1 (EXIF/XMP), APP12, APP13 (IPTC), COM
_PNG_DROP = {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"}
_WEBP_DROP = {b"EXIF", b"XMP "}
_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf"}
_MP4_SCRUB = {b"udta", b"meta", b"uuid"}


class MetadataError(CommsError):
    code = "media_unreadable"


def sniff(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    if data[:4] in (b"II*\x00", b"MM\x00*") or data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/other"
    return None


def is_media(data: bytes) -> bool:
    return sniff(data) is not None


def strip_metadata(data: bytes) -> bytes:
    kind = sniff(data)
    try:
        if kind == "image/jpeg":
            return _strip_jpeg(data)
        if kind == "image/png":
            return _strip_png(data)
        if kind == "image/webp":
            return _strip_webp(data)
        if kind == "video/mp4":
            return _scrub_mp4(data)
        if kind == "image/other":
            return _reencode(data)
    except (IndexError, struct.error, ValueError, OSError) as exc:
        raise MetadataError("media file is damaged; refusing to send it with unknown metadata") from exc
    return data


def _strip_jpeg(data: bytes) -> bytes:
    out = bytearray(data[:2])
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise ValueError("bad JPEG marker")
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the rest is image data
            out += data[pos:]
            return bytes(out)
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:
            out += data[pos : pos + 2]
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker not in _JPEG_DROP:
            out += data[pos : pos + 2 + length]
        pos += 2 + length
    return bytes(out)


def _strip_png(data: bytes) -> bytes:
    out = bytearray(data[:8])
    pos = 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise ValueError("truncated PNG")
        if kind not in _PNG_DROP:
            out += data[pos:end]
        pos = end
    return bytes(out)


def _strip_webp(data: bytes) -> bytes:
    body = bytearray()
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        length = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        end = pos + 8 + length + (length & 1)
        if kind == b"VP8X":  # clear the EXIF (0x08) and XMP (0x04) flags
            chunk = bytearray(data[pos:end])
            chunk[8] &= ~0x0C & 0xFF
            body += chunk
        elif kind not in _WEBP_DROP:
            body += data[pos:end]
        pos = end
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + bytes(body)


def _scrub_mp4(data: bytes) -> bytes:
    out = bytearray(data)
    _scrub_boxes(out, 0, len(out))
    return bytes(out)


def _scrub_boxes(buf: bytearray, start: int, end: int) -> None:
    pos = start
    while pos + 8 <= end:
        size = struct.unpack(">I", buf[pos : pos + 4])[0]
        kind = bytes(buf[pos + 4 : pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", buf[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError("bad MP4 box")
        if kind in _MP4_SCRUB:
            buf[pos + 4 : pos + 8] = b"free"
            buf[pos + header : pos + size] = bytes(size - header)
        elif kind in _MP4_CONTAINERS:
            _scrub_boxes(buf, pos + header, pos + size)
        pos += size


def _reencode(data: bytes) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        clean = Image.new(img.mode, img.size)
        clean.putdata(list(img.getdata()))
        out = io.BytesIO()
        clean.save(out, format="PNG")
        return out.getvalue()
