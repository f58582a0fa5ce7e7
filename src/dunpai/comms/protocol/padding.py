"""Length padding for plaintexts before encryption, so ciphertext sizes leak less.

Payloads are JSON; JSON tolerates trailing whitespace, so padding is spaces up to a bucket size.
"""

from __future__ import annotations

import json
from typing import Any

from dunpai.comms.errors import DecryptionFailed

BUCKET = 256


def pad_json(obj: dict[str, Any]) -> bytes:
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return raw + b" " * (-len(raw) % BUCKET)


def unpad_json(raw: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(raw.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise DecryptionFailed("decrypted content is not readable") from exc
    if not isinstance(obj, dict):
        raise DecryptionFailed("decrypted content is not readable")
    return obj
