"""Encrypted software key store: for machines without a token or HSM.

All key versions live in one file sealed under a passphrase (see ``software_file``). Keys are
generated here and never returned; but, unlike a token, the decrypted keys sit in this process's
memory while the store is open — the honest limit of a software store (``docs/keys.md``).
Changes take an exclusive lock on ``<file>.lock``, re-read the file and rewrite it atomically, so
two processes sharing one store do not lose each other's keys.
"""

from __future__ import annotations

import base64
import fcntl
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dunpai.keys import primitives
from dunpai.keys.errors import DecryptionFailed, KeyExists, KeyNotFound, KeyStoreError
from dunpai.keys.model import (
    SIGNING_KINDS,
    Backend,
    KeyInfo,
    KeyKind,
    KeyRecord,
    active_by_label,
    active_info,
    check_kind,
    check_label,
    info_by_id,
    infos_from_records,
    next_version,
)
from dunpai.keys.software_file import (
    Argon2Params,
    FileKey,
    new_file_key,
    open_payload,
    seal_payload,
    write_atomically,
)

PAYLOAD_FORMAT = 1
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SoftwareKeyStore:
    """A :class:`~dunpai.keys.store.KeyStore` kept in a passphrase-sealed file."""

    def __init__(self, path: Path, file_key: FileKey, passphrase: str, *, clock: Clock = _utc_now) -> None:
        self._path = path
        self._file_key = file_key
        self._passphrase = passphrase
        self._clock = clock
        self._lock = threading.RLock()
        self._records: list[KeyRecord] = []
        self._infos: tuple[KeyInfo, ...] | None = None  # ``list()`` until the records change
        self._material: dict[str, bytes] = {}
        self._public: dict[str, bytes] = {}  # derived public keys, cached (they are not secret)
        self._closed = False

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def create(
        cls, path: Path | str, passphrase: str, *, params: Argon2Params | None = None, clock: Clock = _utc_now
    ) -> SoftwareKeyStore:
        path = Path(path)
        if path.exists():
            raise KeyStoreError("a key store file exists already at this path")
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(path, new_file_key(passphrase, params or Argon2Params()), passphrase, clock=clock)
        store._save()
        return store

    @classmethod
    def open(cls, path: Path | str, passphrase: str, *, clock: Clock = _utc_now) -> SoftwareKeyStore:
        path = Path(path)
        if not path.is_file():
            raise KeyStoreError("no key store file at this path")
        file_key, payload = open_payload(path.read_bytes(), passphrase)
        store = cls(path, file_key, passphrase, clock=clock)
        store._load(payload)
        return store

    @property
    def backend(self) -> Backend:
        return "software"

    @property
    def path(self) -> Path:
        return self._path

    # -- persistence ---------------------------------------------------------------------------

    def _load(self, payload: bytes) -> None:
        try:
            doc = json.loads(payload)
            if doc.get("format") != PAYLOAD_FORMAT:
                raise KeyStoreError("unsupported key store payload format")
            records, material = [], {}
            for item in doc["keys"]:
                rec = KeyRecord(
                    label=check_label(item["label"]),
                    kind=check_kind(item["kind"]),
                    version=int(item["version"]),
                    created_at=datetime.fromisoformat(item["created_at"]),
                    destroyed=bool(item["destroyed"]),
                )
                records.append(rec)
                if not rec.destroyed:
                    material[rec.key_id] = base64.b64decode(item["material"])
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyStoreError("damaged key store payload") from exc
        self._records, self._material = records, material
        self._infos = None

    def _save(self) -> None:
        keys: list[dict[str, Any]] = []
        for rec in self._records:
            item: dict[str, Any] = {
                "label": rec.label,
                "kind": rec.kind,
                "version": rec.version,
                "created_at": rec.created_at.isoformat(),
                "destroyed": rec.destroyed,
            }
            if not rec.destroyed:
                item["material"] = base64.b64encode(self._material[rec.key_id]).decode()
            keys.append(item)
        payload = json.dumps({"format": PAYLOAD_FORMAT, "keys": keys}).encode()
        write_atomically(self._path, seal_payload(self._file_key, payload))

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """Exclusive across threads and processes: re-read, change, write back."""
        self._check_open()
        lock_path = self._path.with_name(self._path.name + ".lock")
        with self._lock, open(lock_path, "a+b") as lock_file:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                _, payload = open_payload(self._path.read_bytes(), self._passphrase)
                self._load(payload)
                yield
                self._infos = None
                self._save()
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def reload(self) -> None:
        """Pick up keys another process added or rotated."""
        with self._lock:
            self._check_open()
            _, payload = open_payload(self._path.read_bytes(), self._passphrase)
            self._load(payload)

    def _check_open(self) -> None:
        if self._closed:
            raise KeyStoreError("the key store is closed")

    # -- lookup --------------------------------------------------------------------------------

    def _live(self) -> tuple[KeyInfo, ...]:
        """The cached ``list()`` (call with the lock held)."""
        self._check_open()
        if self._infos is None:
            self._infos = tuple(infos_from_records(self._records, "software"))
        return self._infos

    def list(self) -> list[KeyInfo]:
        with self._lock:
            return [*self._live()]

    def get(self, key_id: str) -> KeyInfo:
        return info_by_id(self.list(), key_id)

    def find(self, label: str) -> KeyInfo:
        return active_by_label(self.list(), label)

    def _key(self, key_id: str) -> tuple[KeyKind, bytes]:
        with self._lock:
            self._check_open()
            material = self._material.get(key_id)
            if material is None:
                raise KeyNotFound("no such key")
            return next(i.kind for i in self._live() if i.key_id == key_id), material

    # -- life cycle ----------------------------------------------------------------------------

    def _add_version(self, label: str, kind: KeyKind) -> KeyInfo:
        rec = KeyRecord(label, kind, next_version(self._records, label), self._clock())
        self._material[rec.key_id] = primitives.new_material(kind)
        self._records.append(rec)
        return active_info(rec, "software")

    def generate(self, label: str, kind: KeyKind) -> KeyInfo:
        check_label(label)
        kind = check_kind(kind)
        with self._changing():
            if any(r.label == label and not r.destroyed for r in self._records):
                raise KeyExists("a live key with this label exists; rotate it instead")
            return self._add_version(label, kind)

    def rotate(self, label: str) -> KeyInfo:
        with self._changing():
            live = [r for r in self._records if r.label == label and not r.destroyed]
            if not live:
                raise KeyNotFound("no such key")
            return self._add_version(label, max(live, key=lambda r: r.version).kind)

    def destroy(self, key_id: str) -> None:
        with self._changing():
            for i, rec in enumerate(self._records):
                if rec.key_id == key_id and not rec.destroyed:
                    self._records[i] = KeyRecord(rec.label, rec.kind, rec.version, rec.created_at, True)
                    del self._material[key_id]
                    self._public.pop(key_id, None)
                    return
            raise KeyNotFound("no such key")

    def close(self) -> None:
        with self._lock:
            self._material.clear()
            self._public.clear()
            self._closed = True

    # -- operations ----------------------------------------------------------------------------

    def public_key(self, key_id: str) -> bytes:
        kind, material = self._key(key_id)
        cached = self._public.get(key_id)
        if cached is None:
            cached = self._public[key_id] = primitives.public_key(kind, material)
        return cached

    def sign(self, key_id: str, data: bytes) -> bytes:
        kind, material = self._key(key_id)
        return primitives.sign(kind, material, data)

    def verify(self, key_id: str, data: bytes, signature: bytes) -> None:
        kind, material = self._key(key_id)
        if kind in SIGNING_KINDS:
            primitives.verify_with_public(kind, self.public_key(key_id), data, signature)
        else:
            primitives.verify(kind, material, data, signature)

    def wrap(self, key_id: str, key_material: bytes) -> bytes:
        kind, material = self._key(key_id)
        return primitives.wrap(kind, material, key_id, key_material)

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        try:
            kind, material = self._key(key_id)
        except KeyNotFound:
            raise DecryptionFailed() from None
        return primitives.unwrap(kind, material, key_id, wrapped)

    def derive(
        self, key_id: str, peer_public_key: bytes, *, info: bytes, length: int = 32, salt: bytes | None = None
    ) -> bytes:
        kind, material = self._key(key_id)
        return primitives.derive(kind, material, peer_public_key, info=info, length=length, salt=salt)

