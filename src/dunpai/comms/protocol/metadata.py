"""Remove location and device metadata from images and videos before they are encrypted.

Every image or video type recognised here (``sniff``) either loses its metadata or is refused:

* JPEG, losslessly: only the segments needed to show the picture are kept — APP0 JFIF, APP2 ICC
  profile, APP14 Adobe, tables, frames and scans; APP1 (EXIF incl. GPS and maker notes, XMP),
  APP2 MPF, APP3…APP13, APP15 and comments are dropped, and so is everything after the end-of-image
  marker (Multi-Picture secondary images and vendor trailers carry their own EXIF);
* PNG, losslessly: a list of chunks that carry only the picture is kept (no ``eXIf``, text, XMP,
  ``tIME`` or private chunks, nothing after ``IEND``); WebP: only image, animation and ICC chunks;
* MP4/MOV/3GP with only video and audio tracks, losslessly in place: the ``udta``, ``meta`` and
  ``uuid`` (XMP) boxes — where ``©xyz`` GPS and device model live — become ``free`` boxes of the same
  size, so sample offsets stay valid;
* other videos — Matroska/WebM, AVI, FLV, MPEG-TS, ASF/WMV, and MP4/MOV with other tracks (GoPro
  ``gpmd`` or camera-motion metadata tracks, GPS subtitle tracks as drones write them) — are
  re-muxed with PyAV without re-encoding: the video and audio streams only (no subtitle, data or
  attachment streams, no chapters), no container or stream tags, bit-exact muxer output;
* TIFF, GIF, JPEG 2000 and AVIF pictures are re-encoded by Pillow from their pixels alone (AVIF
  stays AVIF, the others become PNG);
* HEIC/HEIF and JPEG XL containers are refused (:class:`MetadataNotRemovable`): their EXIF is an item
  or box that cannot be dropped here; convert them to JPEG first.

Anything else is left unchanged (``is_media`` says whether stripping applied).
"""

from __future__ import annotations

import io
import struct

from dunpai.comms.errors import CommsError

_JPEG_KEEP_APP = {0xE0: b"JFIF\x00", 0xE2: b"ICC_PROFILE\x00", 0xEE: b"Adobe"}  # APPn kept, by signature
_PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB", b"cICP",
             b"mDCV", b"cLLI", b"bKGD", b"hIST", b"pHYs", b"sPLT", b"acTL", b"fcTL", b"fdAT"}
_WEBP_KEEP = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"}
_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf"}
_MP4_SCRUB = {b"udta", b"meta", b"uuid"}
_MP4_MEDIA_HANDLERS = {b"vide", b"soun"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_REMUX_FORMATS = {"video/matroska": "matroska", "video/webm": "webm", "video/avi": "avi", "video/flv": "flv",
                  "video/mp2t": "mpegts", "video/asf": "asf"}


class MetadataError(CommsError):
    code = "media_unreadable"


class MetadataNotRemovable(CommsError):
    code = "metadata_not_removable"


def sniff(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "video/avi"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in _HEIF_BRANDS:
            return "image/heif"
        return "image/avif" if brand in _AVIF_BRANDS else "video/mp4"
    if data[4:8] in (b"moov", b"mdat", b"wide"):
        return "video/mp4"  # QuickTime without ftyp
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm" if b"webm" in data[:64] else "video/matroska"
    if data[:3] == b"FLV":
        return "video/flv"
    if data[:16] == _ASF_GUID:
        return "video/asf"
    if len(data) >= 377 and data[0] == data[188] == data[376] == 0x47:
        return "video/mp2t"
    if data[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or data[:4] == b"\xff\x4f\xff\x51":
        return "image/other"  # JPEG 2000 (GeoJP2 boxes hold locations)
    if data[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n":
        return "image/jxl"
    if data[:4] in (b"II*\x00", b"MM\x00*") or data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/other"
    return None


def is_media(data: bytes) -> bool:
    return sniff(data) is not None


def strip_metadata(data: bytes) -> bytes:
    kind = sniff(data)
    if kind in ("image/heif", "image/jxl"):
        name = "HEIC/HEIF" if kind == "image/heif" else "JPEG XL"
        raise MetadataNotRemovable(f"无法去除 {name} 文件中的位置等元数据，拒绝发送；请先转换为 JPEG"
                                   f"（或用 --keep-metadata 原样发送）/ cannot remove location metadata from a "
                                   f"{name} file, so it is not sent; convert it to JPEG first (or send it as is with "
                                   "--keep-metadata)")
    try:
        if kind == "image/jpeg":
            return _strip_jpeg(data)
        if kind == "image/png":
            return _strip_png(data)
        if kind == "image/webp":
            return _strip_webp(data)
        if kind == "video/mp4":
            return _strip_mp4(data)
        if kind in _REMUX_FORMATS:
            return _remux(data, _REMUX_FORMATS[kind])
        if kind == "image/avif":
            return _reencode(data, "AVIF")
        if kind == "image/other":
            return _reencode(data, "PNG")
    except (IndexError, struct.error, ValueError, OSError) as exc:
        raise MetadataError(f"媒体文件已损坏，元数据未知，拒绝发送 / media file is damaged; refusing to send it with "
                            f"unknown metadata ({type(exc).__name__})") from exc
    return data


def _strip_jpeg(data: bytes) -> bytes:
    out = bytearray(data[:2])
    pos = 2
    while pos + 1 < len(data):
        if data[pos] != 0xFF:
            raise ValueError("bad JPEG marker")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # end of image: what follows (MPF images, vendor trailers) is dropped
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out += data[pos : pos + 2]
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        segment = data[pos : pos + 2 + length]
        if length < 2 or len(segment) < 2 + length:
            raise ValueError("truncated JPEG segment")
        if _keep_jpeg_segment(marker, segment[4:]):
            out += segment
        pos += 2 + length
        if marker == 0xDA:  # entropy-coded data up to the next marker (not a stuffed 0xFF00 or a restart)
            end = pos
            while (end := data.find(b"\xff", end)) != -1 and end + 1 < len(data) and (
                    data[end + 1] == 0x00 or 0xD0 <= data[end + 1] <= 0xD7):
                end += 2
            end = len(data) if end == -1 else end
            out += data[pos:end]
            pos = end
    out += b"\xff\xd9"
    return bytes(out)


def _keep_jpeg_segment(marker: int, body: bytes) -> bool:
    if marker == 0xFE:  # comment
        return False
    if 0xE0 <= marker <= 0xEF:  # application segments: only those the picture needs
        signature = _JPEG_KEEP_APP.get(marker)
        return signature is not None and body.startswith(signature)
    return True


def _strip_png(data: bytes) -> bytes:
    out = bytearray(data[:8])
    pos = 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise ValueError("truncated PNG")
        if kind in _PNG_KEEP:
            out += data[pos:end]
        pos = end
        if kind == b"IEND":
            break
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
        elif kind in _WEBP_KEEP:
            body += data[pos:end]
        pos = end
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + bytes(body)


def _strip_mp4(data: bytes) -> bytes:
    """Blank the metadata boxes in place; a file with tracks other than video and audio (timed
    metadata such as GPS, subtitles) is re-muxed with its video and audio tracks only."""
    out = bytearray(data)
    handlers: list[bytes] = []
    _scrub_boxes(out, 0, len(out), b"", handlers)
    if set(handlers) <= _MP4_MEDIA_HANDLERS:
        return bytes(out)
    brand = data[8:12] if data[4:8] == b"ftyp" else b"qt  "
    return _remux(data, "mov" if brand == b"qt  " else "3gp" if brand.startswith(b"3g") else "mp4")


def _scrub_boxes(buf: bytearray, start: int, end: int, parent: bytes, handlers: list[bytes]) -> None:
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
            _scrub_boxes(buf, pos + header, pos + size, kind, handlers)
        elif kind == b"hdlr" and parent == b"mdia":  # the track's handler type: vide, soun, meta, text …
            handlers.append(bytes(buf[pos + header + 8 : pos + header + 12]))
        pos += size


def _remux(data: bytes, fmt: str) -> bytes:
    """Copy the video and audio packets into a fresh container of the same format (no re-encoding):
    no tags, chapters, subtitle, data or attachment streams; bit-exact muxer output."""
    import av

    out = io.BytesIO()
    try:
        with av.open(io.BytesIO(data), "r") as src:
            streams = [s for s in src.streams if s.type in ("video", "audio")]
            if not streams:
                raise ValueError("no video or audio stream")
            with av.open(out, "w", format=fmt, container_options={"fflags": "+bitexact"}) as dst:
                mapping = {s.index: dst.add_stream_from_template(s) for s in streams}
                for s in mapping.values():
                    s.metadata.clear()
                for packet in src.demux(*streams):
                    if packet.dts is None:  # the demuxer's flush packet
                        continue
                    packet.stream = mapping[packet.stream.index]
                    dst.mux(packet)
    except (av.FFmpegError, ValueError) as exc:
        raise MetadataNotRemovable(f"无法重新封装此 {fmt} 视频以去除位置等元数据，拒绝发送（可用 --keep-metadata 原样"
                                   f"发送）/ cannot re-mux this {fmt} video to remove its location metadata, so it is "
                                   f"not sent (--keep-metadata sends it as is): {exc}") from exc
    return out.getvalue()


def _reencode(data: bytes, fmt: str) -> bytes:
    """A fresh picture from the pixels alone (no info, EXIF, XMP, ICC or comments)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        clean = Image.frombytes(img.mode, img.size, img.tobytes())
        if img.mode in ("P", "PA") and (palette := img.getpalette()) is not None:
            clean.putpalette(palette)
        out = io.BytesIO()
        clean.save(out, format=fmt)
        return out.getvalue()
