"""Canonical byte strings that get signed. Each starts with a domain-separation label and version."""

from __future__ import annotations

import base64
import json
from typing import Any


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: str) -> bytes:
    """Strict base64 decode (raises ``ValueError`` on anything else)."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, ValueError) as exc:
        raise ValueError("not base64") from exc


def _canon(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def device_keys_bytes(user: str, device_id: str, curve25519: str, ed25519: str) -> bytes:
    """What the user's signing key signs to vouch for one of the user's devices."""
    return _canon(
        {"label": "dunpai-device-keys", "v": 1, "user": user, "device_id": device_id,
         "curve25519": curve25519, "ed25519": ed25519, "alg": "ed25519"}
    )


def auth_bytes(nonce: str, user: str, device_id: str, action: str) -> bytes:
    """What a device's Ed25519 key signs to answer the service's challenge (no passwords)."""
    return _canon({"label": "dunpai-auth", "v": 1, "nonce": nonce, "user": user,
                   "device_id": device_id, "action": action})


def one_time_key_bytes(user: str, device_id: str, key_id: str, key: str, fallback: bool) -> bytes:
    return _canon({"label": "dunpai-otk", "v": 1, "user": user, "device_id": device_id,
                   "key_id": key_id, "key": key, "fallback": fallback})


def revoke_bytes(user: str, device_id: str) -> bytes:
    """What the user's signing key signs to revoke one of the user's devices."""
    return _canon({"label": "dunpai-revoke-device", "v": 1, "user": user, "device_id": device_id})
