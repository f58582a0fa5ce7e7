"""The software key store's file: one AES-256-GCM sealed blob, its key derived by Argon2id.

Layout (all integers big-endian)::

    magic "DPKS" | version 0x01 | kdf 0x01 (Argon2id) | time_cost u32 | memory_cost KiB u32
    | parallelism u32 | salt 16 | nonce 12 | AES-256-GCM(payload JSON), AAD = everything before it

The Argon2id parameters travel in the header, so a file written with stronger (or, in tests, weaker)
settings opens with exactly those settings. A wrong passphrase and a damaged file fail alike.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from argon2.low_level import Type, hash_secret_raw

from dunpai.keys.errors import DecryptionFailed, KeyStoreError
from dunpai.keys.suites import NONCE_LEN, SUITES

MAGIC = b"DPKS"
FILE_VERSION = 1
KDF_ARGON2ID = 1
SALT_LEN = 16
_HEADER = struct.Struct(">4sBBIII")
HEADER_LEN = _HEADER.size + SALT_LEN + NONCE_LEN


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost. Defaults follow RFC 9106's second recommended option (t=3, 64 MiB, p=4).

    Tests pass cheaper parameters explicitly; the defaults are never weakened.
    """

    time_cost: int = 3
    memory_cost_kib: int = 64 * 1024
    parallelism: int = 4

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.parallelism < 1 or self.memory_cost_kib < 8 * self.parallelism:
            raise KeyStoreError("invalid Argon2id parameters")


def derive_file_key(passphrase: str, salt: bytes, params: Argon2Params) -> bytes:
    if not passphrase:
        raise KeyStoreError("the key store passphrase must not be empty")
    return hash_secret_raw(
        passphrase.encode("utf-8"),
        salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_cost_kib,
        parallelism=params.parallelism,
        hash_len=32,
        type=Type.ID,
    )


@dataclass(frozen=True)
class FileKey:
    """The derived key plus what is needed to re-seal the file without running Argon2id again."""

    key: bytes
    salt: bytes
    params: Argon2Params


def new_file_key(passphrase: str, params: Argon2Params) -> FileKey:
    salt = os.urandom(SALT_LEN)
    return FileKey(derive_file_key(passphrase, salt, params), salt, params)


def seal_payload(file_key: FileKey, payload: bytes) -> bytes:
    p = file_key.params
    nonce = os.urandom(NONCE_LEN)
    header = (
        _HEADER.pack(MAGIC, FILE_VERSION, KDF_ARGON2ID, p.time_cost, p.memory_cost_kib, p.parallelism)
        + file_key.salt
        + nonce
    )
    return header + SUITES["aes-256-gcm"].encrypt(file_key.key, nonce, payload, header)


def open_payload(blob: bytes, passphrase: str) -> tuple[FileKey, bytes]:
    if len(blob) < HEADER_LEN + 16:
        raise DecryptionFailed()
    magic, version, kdf, t, m, par = _HEADER.unpack_from(blob)
    if magic != MAGIC or version != FILE_VERSION or kdf != KDF_ARGON2ID:
        raise DecryptionFailed()
    # Refuse absurd costs from a forged header before spending memory on them.
    if not (1 <= t <= 64 and 8 <= m <= 4 * 1024 * 1024 and 1 <= par <= 64 and m >= 8 * par):
        raise DecryptionFailed()
    params = Argon2Params(t, m, par)
    salt = blob[_HEADER.size : _HEADER.size + SALT_LEN]
    nonce = blob[_HEADER.size + SALT_LEN : HEADER_LEN]
    key = derive_file_key(passphrase, salt, params)
    payload = SUITES["aes-256-gcm"].decrypt(key, nonce, blob[HEADER_LEN:], blob[:HEADER_LEN])
    return FileKey(key, salt, params), payload


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a private temporary file, fsync, then rename over ``path`` (readers never see half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
