"""Software implementations of the store operations, over ``cryptography``.

Used by the software key store, and for the parts a PKCS#11 backend does on the host: HKDF after
an on-token ECDH, point encodings, the wrapped-key format. Nothing here invents a primitive.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import constant_time, hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dunpai.keys.errors import DecryptionFailed, InvalidSignature, KeyStoreError
from dunpai.keys.model import KeyKind
from dunpai.keys.suites import NONCE_LEN, SUITES

WRAP_VERSION = 1
MAX_WRAPPED_MATERIAL = 1024
P256_COORD = 32


def wrap_aad(key_id: str) -> bytes:
    """Binds a wrapped blob to the key id that wrapped it."""
    return b"dunpai-wrap\x01" + key_id.encode()


def check_material_length(key_material: bytes) -> None:
    if not isinstance(key_material, bytes) or not 1 <= len(key_material) <= MAX_WRAPPED_MATERIAL:
        raise KeyStoreError("key material to wrap must be 1..1024 bytes")


def split_wrapped(wrapped: bytes) -> tuple[bytes, bytes]:
    """``version || nonce || ciphertext+tag`` → (nonce, ciphertext+tag); opaque failure on anything odd."""
    if not isinstance(wrapped, bytes) or len(wrapped) < 1 + NONCE_LEN + 16 or wrapped[0] != WRAP_VERSION:
        raise DecryptionFailed()
    return wrapped[1 : 1 + NONCE_LEN], wrapped[1 + NONCE_LEN :]


def new_material(kind: KeyKind) -> bytes:
    """Fresh key material for the software store (private key as PKCS#8 DER or raw secret bytes)."""
    if kind == "ed25519":
        return Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    if kind in ("aes-256", "hmac-sha256", "hmac-sm3"):
        return os.urandom(32)
    if kind == "sm4-128":
        return os.urandom(16)
    raise KeyStoreError(f"unsupported key kind {kind}")


def _ec_private(material: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_der_private_key(material, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyStoreError("stored key is not an EC key")
    return key


def public_key(kind: KeyKind, material: bytes) -> bytes:
    if kind == "ed25519":
        return Ed25519PrivateKey.from_private_bytes(material).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    if kind == "ec-p256":
        return _ec_private(material).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    raise KeyStoreError(f"a {kind} key has no public half")


def _mac_hash(kind: KeyKind) -> hashes.HashAlgorithm:
    return hashes.SM3() if kind == "hmac-sm3" else hashes.SHA256()


def sign(kind: KeyKind, material: bytes, data: bytes) -> bytes:
    if kind == "ed25519":
        return Ed25519PrivateKey.from_private_bytes(material).sign(data)
    if kind == "ec-p256":
        der = _ec_private(material).sign(data, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return r.to_bytes(P256_COORD, "big") + s.to_bytes(P256_COORD, "big")
    if kind in ("hmac-sha256", "hmac-sm3"):
        mac = hmac.HMAC(material, _mac_hash(kind))
        mac.update(data)
        return mac.finalize()
    raise KeyStoreError(f"a {kind} key cannot sign")


def verify_with_public(kind: KeyKind, public: bytes, data: bytes, signature: bytes) -> None:
    """Verify an ed25519 / ec-p256 signature with a public key; raises ``InvalidSignature``."""
    try:
        if kind == "ed25519":
            Ed25519PublicKey.from_public_bytes(public).verify(signature, data)
            return
        if kind == "ec-p256":
            if len(signature) != 2 * P256_COORD:
                raise InvalidSignature()
            r = int.from_bytes(signature[:P256_COORD], "big")
            s = int.from_bytes(signature[P256_COORD:], "big")
            point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public)
            point.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
            return
    except (_CryptoInvalidSignature, ValueError):
        raise InvalidSignature() from None
    raise KeyStoreError(f"a {kind} key cannot verify signatures")


def verify(kind: KeyKind, material: bytes, data: bytes, signature: bytes) -> None:
    if kind in ("hmac-sha256", "hmac-sm3"):
        if not constant_time.bytes_eq(sign(kind, material, data), signature):
            raise InvalidSignature()
        return
    verify_with_public(kind, public_key(kind, material), data, signature)


def wrap(kind: KeyKind, material: bytes, key_id: str, key_material: bytes) -> bytes:
    check_material_length(key_material)
    aead = SUITES["aes-256-gcm"] if kind == "aes-256" else SUITES["sm4-gcm"] if kind == "sm4-128" else None
    if aead is None:
        raise KeyStoreError(f"a {kind} key cannot wrap")
    nonce = os.urandom(NONCE_LEN)
    return bytes([WRAP_VERSION]) + nonce + aead.encrypt(material, nonce, key_material, wrap_aad(key_id))


def unwrap(kind: KeyKind, material: bytes, key_id: str, wrapped: bytes) -> bytes:
    aead = SUITES["aes-256-gcm"] if kind == "aes-256" else SUITES["sm4-gcm"] if kind == "sm4-128" else None
    if aead is None:
        raise DecryptionFailed()
    nonce, body = split_wrapped(wrapped)
    return aead.decrypt(material, nonce, body, wrap_aad(key_id))


def check_derive_args(length: int, info: bytes) -> None:
    if not 16 <= length <= 64 or not isinstance(info, bytes):
        raise KeyStoreError("derive: length must be 16..64 bytes and info bytes")


def p256_point(peer_public_key: bytes) -> ec.EllipticCurvePublicKey:
    """Parse (and so validate: on the curve, uncompressed) a peer's X9.62 point."""
    if len(peer_public_key) != 1 + 2 * P256_COORD or peer_public_key[0] != 4:
        raise KeyStoreError("peer key must be an uncompressed P-256 point")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), peer_public_key)
    except ValueError:
        raise KeyStoreError("peer key is not a valid P-256 point") from None


def hkdf(shared: bytes, *, info: bytes, length: int, salt: bytes | None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(shared)


def derive(kind: KeyKind, material: bytes, peer_public_key: bytes, *, info: bytes, length: int,
           salt: bytes | None) -> bytes:
    if kind != "ec-p256":
        raise KeyStoreError(f"a {kind} key cannot derive")
    check_derive_args(length, info)
    shared = _ec_private(material).exchange(ec.ECDH(), p256_point(peer_public_key))
    return hkdf(shared, info=info, length=length, salt=salt)
