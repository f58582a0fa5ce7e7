"""Location metadata removed from every image and video container the attachments path recognises:
files generated with PyAV / Pillow carrying GPS tags, subtitle tracks, attachments and trailers."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from dunpai.comms.client.enrol import new_user
from dunpai.comms.protocol.metadata import MetadataNotRemovable, sniff, strip_metadata
from dunpai.comms.server.launch import start_service

from .helpers import drain, has_gps, photo_with_gps, run

GPS = "+22.8201+108.3324/"
NEEDLES = (GPS, "Model-X", "attached-secret")


def leaks(data: bytes) -> list[str]:
    return [n for n in NEEDLES if n.encode() in data or n.encode("utf-16-le") in data]


def tagged_video(fmt: str, codec: str, *, subtitles: str | None = None, attachment: bool = False) -> bytes:
    """Ten frames of a moving pattern with the location in the container and stream tags."""
    out = io.BytesIO()
    with av.open(out, "w", format=fmt) as c:
        c.metadata.update(location=GPS, comment=f"GPS {GPS}", title="Model-X")
        v = c.add_stream(codec, rate=10)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.metadata["location"] = GPS
        sub = c.add_mux_stream(subtitles, time_base=Fraction(1, 1000)) if subtitles else None
        if attachment:
            c.add_attachment("cover.txt", "text/plain", b"attached-secret " + GPS.encode())
        rng = np.random.default_rng(1)
        for i in range(10):
            img = np.roll(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), i, axis=1)
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        if sub is not None:  # a GPS subtitle track, as drones write one
            text = f"GPS {GPS}".encode()
            p = av.Packet(len(text).to_bytes(2, "big") + text if subtitles == "mov_text" else text)
            p.stream, p.pts, p.dts, p.duration, p.time_base = sub, 0, 0, 900, Fraction(1, 1000)
            c.mux(p)
        for p in v.encode(None):
            c.mux(p)
    return out.getvalue()


def frames_of(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@pytest.mark.parametrize(("fmt", "codec", "kind", "extra"), [
    ("matroska", "libvpx", "video/matroska", {"subtitles": "subrip", "attachment": True}),
    ("webm", "libvpx", "video/webm", {}),
    ("avi", "mpeg4", "video/avi", {}),
    ("flv", "flv", "video/flv", {}),
    ("mpegts", "mpeg2video", "video/mp2t", {}),
    ("asf", "wmv2", "video/asf", {}),
    ("mp4", "mpeg4", "video/mp4", {"subtitles": "mov_text"}),
])
def test_video_containers_lose_location(fmt: str, codec: str, kind: str, extra: dict[str, object]) -> None:
    raw = tagged_video(fmt, codec, **extra)  # type: ignore[arg-type]
    assert sniff(raw) == kind
    assert leaks(raw), fmt  # the generated file does carry the tags
    clean = strip_metadata(raw)
    assert leaks(clean) == [], fmt
    with av.open(io.BytesIO(clean)) as c:
        assert [s.type for s in c.streams] == ["video"]  # subtitle and attachment streams dropped
        assert all(not v for k, v in c.metadata.items() if k not in ("encoder", "major_brand", "minor_version",
                                                                      "compatible_brands"))
    # re-muxed, not re-encoded: the very same pictures
    before, after = frames_of(raw), frames_of(clean)
    assert len(after) == len(before) == 10
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_mp4_with_only_video_is_blanked_in_place() -> None:
    raw = tagged_video("mp4", "mpeg4")
    assert GPS.encode() in raw
    clean = strip_metadata(raw)
    assert len(clean) == len(raw) and leaks(clean) == []
    assert all(np.array_equal(a, b) for a, b in zip(frames_of(raw), frames_of(clean), strict=True))


def test_jpeg_trailer_and_unknown_app_segments_dropped() -> None:
    photo = photo_with_gps()
    second = photo_with_gps()  # as a Multi-Picture secondary image after the end of the first
    app3 = b"\xff\xe3" + (2 + 12).to_bytes(2, "big") + b"Model-X-app3"
    raw = photo[:2] + app3 + photo[2:] + second
    clean = strip_metadata(raw)
    assert not has_gps(clean) and b"Model-X" not in clean and b"DunpaiPhone" not in clean
    assert clean.endswith(b"\xff\xd9") and clean.count(b"\xff\xd8") == 1
    with Image.open(io.BytesIO(photo)) as a, Image.open(io.BytesIO(clean)) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))  # lossless


def test_png_private_chunks_and_trailer_dropped() -> None:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, format="PNG")
    png = out.getvalue()
    body = b"Model-X " + GPS.encode()
    chunk = len(body).to_bytes(4, "big") + b"gpSx" + body + b"\0\0\0\0"
    raw = png[:33] + chunk + png[33:] + b"trailing Model-X"
    clean = strip_metadata(raw)
    assert leaks(clean) == [] and clean == png


def test_gif_and_tiff_reencoded_without_comments_keeping_pixels() -> None:
    img = Image.new("P", (8, 8))
    img.putpalette([0, 0, 0, 250, 10, 10] * 128)
    img.putpixel((2, 3), 1)
    for fmt, kwargs in (("GIF", {"comment": f"Model-X {GPS}"}), ("TIFF", {"description": f"Model-X {GPS}"})):
        out = io.BytesIO()
        img.save(out, format=fmt, **kwargs)
        raw = out.getvalue()
        assert leaks(raw)
        clean = strip_metadata(raw)
        assert leaks(clean) == []
        with Image.open(io.BytesIO(clean)) as got:
            assert np.array_equal(np.asarray(got.convert("RGB")), np.asarray(img.convert("RGB")))


def test_jpeg_2000_reencoded_without_comment() -> None:
    img = Image.new("RGB", (8, 8), (10, 200, 30))
    out = io.BytesIO()
    img.save(out, format="JPEG2000", comment=f"Model-X {GPS}", irreversible=False)
    raw = out.getvalue()
    assert sniff(raw) == "image/other" and leaks(raw)
    clean = strip_metadata(raw)
    assert leaks(clean) == []
    with Image.open(io.BytesIO(clean)) as got:
        assert np.array_equal(np.asarray(got.convert("RGB")), np.asarray(img))  # lossless JPEG 2000


def test_avif_reencoded_without_exif() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Model-X"  # Make
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(out, format="AVIF", exif=exif.tobytes())
    raw = out.getvalue()
    assert sniff(raw) == "image/avif" and b"Model-X" in raw
    clean = strip_metadata(raw)
    assert sniff(clean) == "image/avif" and b"Model-X" not in clean
    with Image.open(io.BytesIO(clean)) as got:
        assert got.size == (16, 16)


@pytest.mark.parametrize("head", [b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", b"\0\0\0\x0cJXL \r\n\x87\n"])
def test_heic_and_jpeg_xl_refused_with_a_bilingual_error(head: bytes) -> None:
    with pytest.raises(MetadataNotRemovable) as err:
        strip_metadata(head + b"\0" * 64 + GPS.encode())
    assert err.value.code == "metadata_not_removable"
    assert "无法去除" in err.value.message and "cannot remove location metadata" in err.value.message


def test_unremuxable_video_refused() -> None:
    with pytest.raises(MetadataNotRemovable, match="cannot re-mux"):
        strip_metadata(b"\x1a\x45\xdf\xa3" + b"\x00" * 200 + GPS.encode())


def test_matroska_sent_as_attachment_arrives_without_location(sqlite_url: str) -> None:
    raw = tagged_video("matroska", "libvpx", subtitles="subrip", attachment=True)

    async def scenario() -> None:
        svc = await start_service(sqlite_url)
        try:
            alice = await new_user(svc.url, "alice", svc.service.create_invite())
            bob = await new_user(svc.url, "bob", svc.service.create_invite())
            ref = await alice.upload_file(raw, "clip.mkv", "video/x-matroska")
            await alice.send_content("bob", ref.to_content())
            got = (await drain(bob, 1))[0]
            assert got.file is not None
            delivered = await bob.fetch_file(got.file)
            assert leaks(delivered) == [] and len(frames_of(delivered)) == 10
            for c in (alice, bob):
                await c.close()
        finally:
            await svc.stop()

    run(scenario())
