"""The one contract every key store keeps (PKCS#11 token, encrypted software file).

A store generates keys *inside* itself and never hands out private or secret key material: callers
ask it to sign, verify, wrap, unwrap or derive. The same contract test suite runs against every
backend (``tests/keys/test_contract.py``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from dunpai.keys.model import Backend, KeyInfo, KeyKind


@runtime_checkable
class KeyStore(Protocol):
    @property
    def backend(self) -> Backend: ...

    def generate(self, label: str, kind: KeyKind) -> KeyInfo:
        """Create version 1 of a new key; raises ``KeyExists`` when the label is live already."""
        ...

    def public_key(self, key_id: str) -> bytes:
        """Raw 32 bytes for ed25519, X9.62 uncompressed point (65 bytes) for ec-p256."""
        ...

    def sign(self, key_id: str, data: bytes) -> bytes:
        """Ed25519 signature, ECDSA P-256/SHA-256 as raw ``r || s`` (64 bytes), or a MAC for MAC kinds."""
        ...

    def verify(self, key_id: str, data: bytes, signature: bytes) -> None:
        """Returns only when the signature or MAC is valid; raises ``InvalidSignature`` otherwise."""
        ...

    def wrap(self, key_id: str, key_material: bytes) -> bytes:
        """Encrypt a data key under a wrapping key (AEAD, bound to ``key_id``)."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        """Inverse of ``wrap``; raises ``DecryptionFailed`` on any mismatch."""
        ...

    def derive(
        self, key_id: str, peer_public_key: bytes, *, info: bytes, length: int = 32, salt: bytes | None = None
    ) -> bytes:
        """ECDH between the stored private key and ``peer_public_key`` (X9.62), then HKDF-SHA256."""
        ...

    def rotate(self, label: str) -> KeyInfo:
        """Create the next version of ``label`` (same kind); older versions stay usable, as ``retired``."""
        ...

    def destroy(self, key_id: str) -> None:
        """Delete one version for good. Data sealed or signed under it can no longer be opened or checked."""
        ...

    def list(self) -> list[KeyInfo]: ...

    def find(self, label: str) -> KeyInfo:
        """The active (highest live) version of ``label``; raises ``KeyNotFound``."""
        ...

    def get(self, key_id: str) -> KeyInfo:
        """One live version by id; raises ``KeyNotFound``."""
        ...

    def close(self) -> None: ...
