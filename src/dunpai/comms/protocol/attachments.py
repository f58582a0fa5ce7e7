"""Client-side file encryption: a fresh AES-256-GCM key per file, chunked, integrity-checked.

Chunk ``i`` of ``n`` is sealed with nonce = ``i`` (96-bit big-endian; safe because the key is used
for one file only) and associated data binding the format version, index and count, so chunks can
be neither reordered nor dropped. The SHA-256 of all sealed chunks travels inside the E2E message
with the key; a download is checked against it before anything is decrypted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dunpai.comms.errors import AttachmentCorrupted, DecryptionFailed
from dunpai.comms.protocol.canonical import b64d, b64e

FILE_FORMAT = "dunpai-file-v1"
CHUNK_PLAINTEXT = 192 * 1024


@dataclass(frozen=True)
class FileKey:
    """What the recipient needs to fetch and open the file; sent only inside E2E messages."""

    blob_id: str
    key: bytes
    sha256: str
    chunks: int
    size: int
    name: str
    mime: str

    def to_content(self) -> dict[str, Any]:
        return {"type": "file", "format": FILE_FORMAT, "blob_id": self.blob_id, "key": b64e(self.key),
                "sha256": self.sha256, "chunks": self.chunks, "size": self.size, "name": self.name,
                "mime": self.mime}

    @classmethod
    def from_content(cls, content: dict[str, Any]) -> FileKey:
        try:
            if content["format"] != FILE_FORMAT:
                raise ValueError("format")
            key = b64d(content["key"])
            if len(key) != 32:
                raise ValueError("key")
            return cls(str(content["blob_id"]), key, str(content["sha256"]), int(content["chunks"]),
                       int(content["size"]), str(content["name"]), str(content["mime"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise DecryptionFailed("file reference is not readable") from exc


def _aad(index: int, total: int) -> bytes:
    return f"{FILE_FORMAT}:{index}:{total}".encode()


def encrypt_file(data: bytes, blob_id: str, name: str, mime: str, key: bytes | None = None,
                 chunk_size: int = CHUNK_PLAINTEXT) -> tuple[FileKey, list[bytes]]:
    key = key if key is not None else AESGCM.generate_key(bit_length=256)
    aead = AESGCM(key)
    pieces = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] or [b""]
    total = len(pieces)
    sealed = [aead.encrypt(i.to_bytes(12, "big"), piece, _aad(i, total)) for i, piece in enumerate(pieces)]
    digest = hashlib.sha256()
    for chunk in sealed:
        digest.update(chunk)
    return FileKey(blob_id, key, digest.hexdigest(), total, len(data), name, mime), sealed


def decrypt_file(ref: FileKey, sealed: Iterable[bytes]) -> bytes:
    chunks = list(sealed)
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    if len(chunks) != ref.chunks or digest.hexdigest() != ref.sha256:
        raise AttachmentCorrupted("downloaded file does not match its hash")
    aead = AESGCM(ref.key)
    try:
        plain = b"".join(aead.decrypt(i.to_bytes(12, "big"), c, _aad(i, ref.chunks)) for i, c in enumerate(chunks))
    except InvalidTag as exc:
        raise AttachmentCorrupted("downloaded file failed authentication") from exc
    if len(plain) != ref.size:
        raise AttachmentCorrupted("downloaded file has the wrong size")
    return plain


def new_blob_id() -> str:
    return "b" + os.urandom(16).hex()
