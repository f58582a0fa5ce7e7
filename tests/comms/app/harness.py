"""The app's end-to-end test processes (``bench.app_procs``) with a cheap key derivation, and a
photo as a phone writes it."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench import app_procs
from bench.app_procs import REPO, app_env

from tests.kdf import CHEAP_KDF_ENV

__all__ = ["REPO", "AppProc", "Loopback", "has_gps", "photo_with_gps"]


def _cheap_env() -> dict[str, str]:
    return app_env(CHEAP_KDF_ENV)


@dataclass
class Loopback(app_procs.Loopback):
    env: dict[str, str] = field(default_factory=_cheap_env)


@dataclass
class AppProc(app_procs.AppProc):
    env: dict[str, str] = field(default_factory=_cheap_env)


def photo_with_gps() -> bytes:
    """A small JPEG carrying GPS tags, a camera model and a maker note (as a phone writes them)."""
    import io

    import piexif
    from PIL import Image

    exif = piexif.dump({
        "0th": {piexif.ImageIFD.Make: b"DunpaiPhone", piexif.ImageIFD.Model: b"Model-X"},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((22, 1), (49, 1), (1234, 100)),
                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: ((108, 1), (19, 1), (5678, 100))},
        "Exif": {piexif.ExifIFD.MakerNote: b"secret-maker-note"},
    })
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(out, format="JPEG", exif=exif)
    return out.getvalue()


def has_gps(jpeg: bytes) -> bool:
    import piexif

    try:
        return bool(piexif.load(jpeg).get("GPS"))
    except (ValueError, piexif.InvalidImageDataError):
        return False
