"""AEAD suites and hashes offered by the recipes, all from ``cryptography`` (no home-made primitives).

``aes-256-gcm`` is the default. ``sm4-gcm`` (GB/T 32907 block cipher in GCM mode, as in RFC 8998)
with ``sm3`` (GB/T 32905) hashing is the suite for deployments that must use Chinese national
(GM/T) algorithms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dunpai.keys.errors import DecryptionFailed

SuiteName = Literal["aes-256-gcm", "sm4-gcm"]
SUITE_NAMES: tuple[SuiteName, ...] = get_args(SuiteName)
HashName = Literal["sha256", "sm3"]
HASH_NAMES: tuple[HashName, ...] = get_args(HashName)

NONCE_LEN = 12
TAG_LEN = 16


@dataclass(frozen=True)
class Suite:
    name: SuiteName
    suite_id: int  # the byte written into sealed formats; never renumber
    key_len: int
    hash_name: HashName

    def encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """``ciphertext || tag``."""
        if len(key) != self.key_len or len(nonce) != NONCE_LEN:
            raise ValueError("bad key or nonce length")
        if self.name == "aes-256-gcm":
            return AESGCM(key).encrypt(nonce, plaintext, aad)
        enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(aad)
        body = enc.update(plaintext) + enc.finalize()
        return body + enc.tag

    def decrypt(self, key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        """Inverse of ``encrypt``; any failure is the opaque ``DecryptionFailed``."""
        if len(key) != self.key_len or len(nonce) != NONCE_LEN or len(sealed) < TAG_LEN:
            raise DecryptionFailed()
        try:
            if self.name == "aes-256-gcm":
                return AESGCM(key).decrypt(nonce, sealed, aad)
            body, tag = sealed[:-TAG_LEN], sealed[-TAG_LEN:]
            dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
            dec.authenticate_additional_data(aad)
            return dec.update(body) + dec.finalize()
        except InvalidTag:
            raise DecryptionFailed() from None


SUITES: dict[SuiteName, Suite] = {
    "aes-256-gcm": Suite("aes-256-gcm", 1, 32, "sha256"),
    "sm4-gcm": Suite("sm4-gcm", 2, 16, "sm3"),
}
SUITES_BY_ID: dict[int, Suite] = {s.suite_id: s for s in SUITES.values()}


def suite(name: str) -> Suite:
    for known in SUITE_NAMES:
        if name == known:
            return SUITES[known]
    raise ValueError(f"unknown suite {name!r}; one of {', '.join(SUITE_NAMES)}")


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    if name == "sha256":
        return hashes.SHA256()
    if name == "sm3":
        return hashes.SM3()
    raise ValueError(f"unknown hash {name!r}; one of {', '.join(HASH_NAMES)}")


def digest(name: str, data: bytes) -> bytes:
    h = hashes.Hash(hash_algorithm(name))
    h.update(data)
    return h.finalize()
