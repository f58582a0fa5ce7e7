"""Safety numbers and QR payloads for out-of-band verification of two users' signing keys.

Like Signal's: each user's fingerprint is SHA-512 iterated over (version, user id, public key), cut
into 30 digits; the safety number is the two fingerprints in a fixed order, so both users see the
same 60 digits. The QR payload carries the version, both users and both keys.
"""

from __future__ import annotations

import hashlib

from dunpai.comms.errors import UntrustedDevice
from dunpai.comms.protocol.canonical import b64d, b64e

SAFETY_VERSION = 1
_ITERATIONS = 5200


def fingerprint_digits(user: str, public_key: bytes) -> str:
    digest = bytes([0, SAFETY_VERSION]) + public_key + user.encode()
    for _ in range(_ITERATIONS):
        digest = hashlib.sha512(digest + public_key).digest()
    chunks = [int.from_bytes(digest[i : i + 5], "big") % 100_000 for i in range(0, 30, 5)]
    return "".join(f"{c:05d}" for c in chunks)


def safety_number(user_a: str, key_a: bytes, user_b: str, key_b: bytes) -> str:
    """60 digits in 12 groups of five, identical for both sides."""
    parts = sorted([fingerprint_digits(user_a, key_a), fingerprint_digits(user_b, key_b)])
    digits = "".join(parts)
    return " ".join(digits[i : i + 5] for i in range(0, 60, 5))


def qr_payload(user_a: str, key_a: bytes, user_b: str, key_b: bytes) -> str:
    """Text to show as a QR code; the other side scans it and calls :func:`verify_qr_payload`."""
    return f"dunpai-sn:{SAFETY_VERSION}:{user_a}:{b64e(key_a)}:{user_b}:{b64e(key_b)}"


def verify_qr_payload(payload: str, me: str, my_key: bytes, them: str, their_key: bytes) -> None:
    """Raise ``UntrustedDevice`` unless the scanned payload names exactly these two users and keys."""
    parts = payload.split(":")
    if len(parts) != 6 or parts[0] != "dunpai-sn" or parts[1] != str(SAFETY_VERSION):
        raise UntrustedDevice("not a Dunpai safety-number code of a supported version")
    try:
        seen = {(parts[2], b64d(parts[3])), (parts[4], b64d(parts[5]))}
    except ValueError as exc:
        raise UntrustedDevice("safety-number code is damaged") from exc
    if seen != {(me, my_key), (them, their_key)}:
        raise UntrustedDevice("safety numbers do not match: the keys may have been substituted")
