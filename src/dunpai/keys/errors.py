"""Errors of the key-custody layer.

Crypto failures are opaque: a tampered, truncated or mis-addressed ciphertext, a wrong passphrase
and an unknown wrapping key all raise the same :class:`DecryptionFailed` with the same message, so
that an attacker probing the system learns nothing from which check failed.
"""

from __future__ import annotations

from dunpai.core.errors import Conflict, DunpaiError, NotFound


class KeyStoreError(DunpaiError):
    """The key store could not do what was asked (unsupported kind, token error, bad state)."""

    code = "key_store_error"


class KeyNotFound(NotFound):
    """No live key has this id or label."""

    code = "key_not_found"


class KeyExists(Conflict):
    """A live key with this label exists already; rotate it instead."""

    code = "key_exists"


class InvalidSignature(DunpaiError):
    """A signature or MAC did not verify. Raised, never returned as ``False``."""

    code = "invalid_signature"

    def __init__(self) -> None:
        super().__init__("signature verification failed")


class DecryptionFailed(DunpaiError):
    """Opening a sealed record, unwrapping a key or unlocking a store failed; says nothing more."""

    code = "decryption_failed"

    def __init__(self) -> None:
        super().__init__("decryption failed")
