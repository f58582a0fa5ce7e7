"""The shield's signature recipe over ``cryptography``: Ed25519, or ECDSA P-256 with SHA-256.

Verification raises :class:`BadShieldSignature` (opaque) and never returns a bool. Signatures travel
as unpadded base64url; ECDSA signatures are DER, as every mobile key store (Android Keystore, iOS
Secure Enclave) emits them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dunpai.risk.shield.errors import BadShieldSignature, MalformedShield

Algorithm = Literal["ed25519", "ecdsa-p256"]
ALGORITHMS: tuple[Algorithm, ...] = ("ed25519", "ecdsa-p256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadShieldSignature() from None


def key_id_for(algorithm: str, public_key: bytes) -> str:
    """A key id derived from the public key: the same key always gets the same id."""
    return "shk_" + hashlib.sha256(algorithm.encode() + b"\x00" + public_key).hexdigest()[:24]


def check_public_key(algorithm: str, public_key: bytes) -> None:
    """Raises :class:`MalformedShield` unless ``public_key`` is a valid key of ``algorithm``."""
    try:
        if algorithm == "ed25519":
            Ed25519PublicKey.from_public_bytes(public_key)
        elif algorithm == "ecdsa-p256":
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
        else:
            raise MalformedShield(f"unsupported shield algorithm {algorithm!r}; use ed25519 or ecdsa-p256")
    except ValueError:
        raise MalformedShield("the public key is not a valid key for its algorithm") from None


def verify_signature(algorithm: str, public_key: bytes, message: bytes, signature_b64: str) -> None:
    """Raise :class:`BadShieldSignature` unless ``signature_b64`` signs ``message`` under ``public_key``."""
    signature = unb64(signature_b64)
    try:
        if algorithm == "ed25519":
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        elif algorithm == "ecdsa-p256":
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        else:
            raise BadShieldSignature()
    except (InvalidSignature, ValueError):
        raise BadShieldSignature() from None
