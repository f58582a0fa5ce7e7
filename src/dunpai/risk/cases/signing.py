"""Signing of evidence bundles: a narrow port, backed by the key store (``dunpai.keys``).

The private key never leaves the key store (PKCS#11 token or encrypted software file); a bundle
carries the key id and the raw Ed25519 public key, and the verifier compares that key with the one
the bank publishes (``dunpai evidence verify --trusted-key``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

from dunpai.keys import Argon2Params, KeyNotFound, KeyStore, open_keystore
from dunpai.keys.labels import EVIDENCE_SIGNING
from dunpai.keys.primitives import verify_with_public

__all__ = ["EVIDENCE_SIGNING", "EvidenceSigner", "KeyStoreSigner", "fingerprint", "software_signer",
           "verify_signature"]


class EvidenceSigner(Protocol):
    @property
    def key_id(self) -> str: ...

    def public_key(self) -> bytes:
        """Raw 32-byte Ed25519 public key."""
        ...

    def sign(self, data: bytes) -> bytes: ...


class KeyStoreSigner:
    """Signs with the active version of ``label`` (Ed25519), creating the key on first use."""

    def __init__(self, store: KeyStore, label: str = EVIDENCE_SIGNING) -> None:
        self.store = store
        try:
            info = store.find(label)
        except KeyNotFound:
            info = store.generate(label, "ed25519")
        self._key_id = info.key_id

    @property
    def key_id(self) -> str:
        return self._key_id

    def public_key(self) -> bytes:
        return self.store.public_key(self._key_id)

    def sign(self, data: bytes) -> bytes:
        return self.store.sign(self._key_id, data)


def software_signer(path: Path, passphrase: str, argon2: Argon2Params | None = None) -> KeyStoreSigner:
    """A signer over an encrypted software key store file (created when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    store = open_keystore("software", path=path, passphrase=passphrase, create=True, argon2=argon2)
    return KeyStoreSigner(store)


def verify_signature(public_key: bytes, data: bytes, signature: bytes) -> None:
    """Returns only for a valid Ed25519 signature; raises ``dunpai.keys.InvalidSignature``."""
    verify_with_public("ed25519", public_key, data, signature)


def fingerprint(public_key: bytes) -> str:
    """What a person compares: SHA-256 of the raw public key, in hex groups."""
    h = hashlib.sha256(public_key).hexdigest()[:32]
    return ":".join(h[i:i + 4] for i in range(0, len(h), 4))
