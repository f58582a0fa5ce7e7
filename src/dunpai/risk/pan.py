"""Default card-number protection: a keyed HMAC-SHA256 token and a PCI DSS mask.

The key lives in the data directory (created once, mode 0600) unless a key store supplies one.
The token is versioned (``ct1_``) so that a later key or algorithm can coexist during rotation.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path


def mask_pan(pan: str) -> str:
    """First six and last four digits, the rest hidden (PCI DSS 3.4 display rule)."""
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


class HmacPanProtector:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("card-token key must be at least 32 bytes")
        self._key = key

    @classmethod
    def from_key_file(cls, path: Path) -> HmacPanProtector:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
        return cls(path.read_bytes())

    def token(self, pan: str) -> str:
        return "ct1_" + hmac.new(self._key, pan.encode(), hashlib.sha256).hexdigest()[:32]

    def mask(self, pan: str) -> str:
        return mask_pan(pan)
