"""The narrow key-custody port comms needs, and its implementations.

Comms needs two things from key custody:

* the user's long-term **signing key** (``UserSigner``): it signs each of the user's devices, so other
  users can check a device belongs to the user, and it signs device revocations;
* a **sealer** (``StateSealer``) that seals the device's local session state at rest.

``KeyStoreAdapter`` / :func:`from_key_store` wire the port to ``dunpai.keys`` (PKCS#11 token - the
"key chip" - or the Argon2id-sealed software store): the signing key is an Ed25519 key generated
inside the store (label ``comms.user-signing``), and local state is sealed with ``dunpai.keys``'
envelope recipe under an AES-256 wrapping key (label ``comms.state-kek``). ``MemoryKeys`` is an
in-memory implementation (Ed25519 + AES-256-GCM from ``cryptography``) for tests and benchmarks.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dunpai.comms.errors import AuthFailed, DecryptionFailed

SIGNING_ALG = "ed25519"
_SEAL_VERSION = b"\x01"


class UserSigner(Protocol):
    """The user's long-term signing key (in a token or the software store)."""

    def public_key(self) -> bytes:
        """Raw 32-byte Ed25519 public key."""
        ...

    def sign(self, data: bytes) -> bytes: ...


class StateSealer(Protocol):
    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes: ...

    def open(self, sealed: bytes, aad: bytes = b"") -> bytes: ...


class DeviceKeys(UserSigner, StateSealer, Protocol):
    """Everything one client needs from key custody."""


def verify_user_signature(public_key: bytes, data: bytes, signature: bytes) -> None:
    """Verify an Ed25519 signature by a user signing key; raises ``AuthFailed`` when it is not valid."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (_CryptoInvalidSignature, ValueError) as exc:
        raise AuthFailed("signature does not verify") from exc


class MemoryKeys:
    """Ed25519 signing key and AES-256-GCM sealing key held in memory (tests, benchmarks)."""

    def __init__(self, signing_seed: bytes | None = None, seal_key: bytes | None = None) -> None:
        seed = signing_seed if signing_seed is not None else os.urandom(32)
        self._sk = Ed25519PrivateKey.from_private_bytes(seed)
        self._aead = AESGCM(seal_key if seal_key is not None else os.urandom(32))

    def public_key(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        return self._sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, data: bytes) -> bytes:
        return self._sk.sign(data)

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        nonce = os.urandom(12)
        return _SEAL_VERSION + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes = b"") -> bytes:
        if len(sealed) < 29 or sealed[:1] != _SEAL_VERSION:
            raise DecryptionFailed("sealed state is not readable")
        try:
            return self._aead.decrypt(sealed[1:13], sealed[13:], aad)
        except InvalidTag as exc:
            raise DecryptionFailed("sealed state is not readable") from exc


SIGNING_LABEL = "comms.user-signing"
STATE_KEK_LABEL = "comms.state-kek"


def from_key_store(store: Any) -> KeyStoreAdapter:
    """The comms port over a ``dunpai.keys.KeyStore``; creates the comms keys inside it if missing."""
    from dunpai.keys import Envelope, KeyNotFound

    for label, kind in ((SIGNING_LABEL, "ed25519"), (STATE_KEK_LABEL, "aes-256")):
        try:
            store.find(label)
        except KeyNotFound:
            store.generate(label, kind)
    return KeyStoreAdapter(store, store.find(SIGNING_LABEL).key_id, Envelope(store, STATE_KEK_LABEL))


class KeyStoreAdapter:
    """Adapts a ``dunpai.keys`` key store (token or software) to the comms port."""

    def __init__(self, store: Any, signing_key_id: Any, sealer: Any) -> None:
        self._store = store
        self._key_id = signing_key_id
        self._sealer = sealer

    def public_key(self) -> bytes:
        return _raw_ed25519(self._store.public_key(self._key_id))

    def sign(self, data: bytes) -> bytes:
        return bytes(self._store.sign(self._key_id, data))

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        return bytes(self._sealer.seal(plaintext, aad=aad))

    def open(self, sealed: bytes, aad: bytes = b"") -> bytes:
        try:
            return bytes(self._sealer.open(sealed, aad=aad))
        except DecryptionFailed:
            raise
        except Exception as exc:  # the key store's own opaque failure
            raise DecryptionFailed("sealed state is not readable") from exc


def _raw_ed25519(public: bytes) -> bytes:
    """Accept a raw 32-byte key or a DER SubjectPublicKeyInfo; return the raw key."""
    if len(public) == 32:
        return bytes(public)
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_der_public_key,
    )

    key = load_der_public_key(public)
    if not isinstance(key, Ed25519PublicKey):
        raise AuthFailed("the user signing key must be Ed25519")
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
