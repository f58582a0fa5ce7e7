"""Envelope encryption: each record gets its own data key, wrapped by a key-store key.

Sealed format, version 1 (integers big-endian)::

    0x01 version | suite id (1 = aes-256-gcm, 2 = sm4-gcm) | key-id length (1 byte) | key id (UTF-8)
    | wrapped data key length (2 bytes) | wrapped data key | nonce (12) | ciphertext || tag (16)

The data ciphertext authenticates ``"dunpai-envelope" | version | suite | len(aad) | aad``, where
``aad`` is the caller's context (e.g. customer id and field name), supplied again to ``open`` and
never stored. The wrapping key id and wrapped data key sit outside that binding on purpose: the
store's wrap is itself authenticated and bound to its key id, and this is what lets ``rewrap`` move
a record to a new wrapping-key version without touching (or re-encrypting) the data.
"""

from __future__ import annotations

import os
import struct

from dunpai.keys.errors import DecryptionFailed, KeyStoreError
from dunpai.keys.model import parse_key_id
from dunpai.keys.store import KeyStore
from dunpai.keys.suites import NONCE_LEN, SUITES_BY_ID, TAG_LEN, Suite, SuiteName, suite

ENVELOPE_VERSION = 1
_MAX_WRAPPED = 4096


def _data_aad(version: int, suite_id: int, aad: bytes) -> bytes:
    return b"dunpai-envelope" + bytes([version, suite_id]) + struct.pack(">I", len(aad)) + aad


class _Parsed:
    __slots__ = ("body", "key_id", "nonce", "suite", "wrapped")

    def __init__(self, suite: Suite, key_id: str, wrapped: bytes, nonce: bytes, body: bytes) -> None:
        self.suite, self.key_id, self.wrapped, self.nonce, self.body = suite, key_id, wrapped, nonce, body


def _parse(sealed: bytes) -> _Parsed:
    """Split a sealed record; every malformation is the same opaque failure."""
    try:
        if not isinstance(sealed, bytes) or sealed[0] != ENVELOPE_VERSION:
            raise DecryptionFailed()
        found = SUITES_BY_ID.get(sealed[1])
        n = sealed[2]
        key_id = sealed[3 : 3 + n].decode("utf-8")
        parse_key_id(key_id)
        pos = 3 + n
        (m,) = struct.unpack_from(">H", sealed, pos)
        wrapped = sealed[pos + 2 : pos + 2 + m]
        pos += 2 + m
        nonce, body = sealed[pos : pos + NONCE_LEN], sealed[pos + NONCE_LEN :]
        if found is None or len(wrapped) != m or len(nonce) != NONCE_LEN or len(body) < TAG_LEN:
            raise DecryptionFailed()
        return _Parsed(found, key_id, wrapped, nonce, body)
    except (IndexError, struct.error, UnicodeDecodeError, ValueError):
        raise DecryptionFailed() from None
    except DecryptionFailed:
        raise
    except Exception:  # e.g. InvalidInput from parse_key_id: still opaque to the caller
        raise DecryptionFailed() from None


def _assemble(p: _Parsed) -> bytes:
    kid = p.key_id.encode("utf-8")
    if len(kid) > 255 or len(p.wrapped) > _MAX_WRAPPED:
        raise KeyStoreError("key id or wrapped key too long for the envelope format")
    return (
        bytes([ENVELOPE_VERSION, p.suite.suite_id, len(kid)]) + kid
        + struct.pack(">H", len(p.wrapped)) + p.wrapped + p.nonce + p.body
    )


class Envelope:
    """Seal and open records with a fresh data key each, wrapped by the active version of ``kek_label``.

    ``suite`` chooses the data cipher for new records (``aes-256-gcm`` default, ``sm4-gcm`` for
    GM/T deployments); ``open`` reads the suite from the record, so both can coexist.
    """

    def __init__(self, store: KeyStore, kek_label: str, suite_name: SuiteName = "aes-256-gcm") -> None:
        self._store = store
        self._kek_label = kek_label
        self._suite = suite(suite_name)

    @property
    def suite_name(self) -> SuiteName:
        return self._suite.name

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        return self.seal_with(plaintext, aad, data_key=os.urandom(self._suite.key_len),
                              nonce=os.urandom(NONCE_LEN))

    def seal_with(self, plaintext: bytes, aad: bytes, *, data_key: bytes, nonce: bytes) -> bytes:
        """``seal`` with a caller-chosen data key and nonce: for known-answer tests only.

        Reusing a nonce with the same data key breaks GCM; application code calls ``seal``.
        """
        if not isinstance(plaintext, bytes) or not isinstance(aad, bytes):
            raise TypeError("plaintext and aad must be bytes")
        kek = self._store.find(self._kek_label)
        wrapped = self._store.wrap(kek.key_id, data_key)
        body = self._suite.encrypt(data_key, nonce, plaintext,
                                   _data_aad(ENVELOPE_VERSION, self._suite.suite_id, aad))
        return _assemble(_Parsed(self._suite, kek.key_id, wrapped, nonce, body))

    def open(self, sealed: bytes, aad: bytes = b"") -> bytes:
        p = _parse(sealed)
        data_key = self._unwrap(p)
        return p.suite.decrypt(data_key, p.nonce, p.body, _data_aad(ENVELOPE_VERSION, p.suite.suite_id, aad))

    def _unwrap(self, p: _Parsed) -> bytes:
        try:
            data_key = self._store.unwrap(p.key_id, p.wrapped)
        except DecryptionFailed:
            raise
        except Exception:  # unknown or destroyed key, store trouble: opaque to the caller
            raise DecryptionFailed() from None
        if len(data_key) != p.suite.key_len:
            raise DecryptionFailed()
        return data_key

    def rewrap(self, sealed: bytes) -> bytes:
        """Re-wrap the record's data key under the active wrapping-key version; the data is untouched.

        Returns the input unchanged when it is already under the active version.
        """
        p = _parse(sealed)
        kek = self._store.find(self._kek_label)
        if p.key_id == kek.key_id:
            return sealed
        data_key = self._unwrap(p)
        p.wrapped = self._store.wrap(kek.key_id, data_key)
        p.key_id = kek.key_id
        return _assemble(p)

    @staticmethod
    def key_id_of(sealed: bytes) -> str:
        """The wrapping-key id a sealed record names (to find records still under an old version)."""
        return _parse(sealed).key_id
