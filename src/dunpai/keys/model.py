"""Key metadata shared by every backend: kinds, ids, and the ``KeyInfo`` record.

A key is addressed by its *label* (a stable name such as ``data-kek``) and, once rotated, by the
*key id* of one version: ``data-kek/v3``. Envelopes, checkpoints and tokens record the key id, so
data sealed or signed under an old version stays readable while that version lives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from dunpai.core.errors import FieldProblem, InvalidInput
from dunpai.keys.errors import KeyNotFound

KeyKind = Literal["ed25519", "ec-p256", "aes-256", "hmac-sha256", "sm4-128", "hmac-sm3"]
KEY_KINDS: tuple[KeyKind, ...] = get_args(KeyKind)

SIGNING_KINDS: frozenset[KeyKind] = frozenset({"ed25519", "ec-p256"})
"""Asymmetric kinds: ``sign`` makes a signature, ``public_key`` exports the public half."""

MAC_KINDS: frozenset[KeyKind] = frozenset({"hmac-sha256", "hmac-sm3"})
"""Secret MAC kinds: ``sign`` makes a MAC (used for keyed tokens), ``verify`` checks it."""

WRAPPING_KINDS: frozenset[KeyKind] = frozenset({"aes-256", "sm4-128"})
"""Key-encryption kinds: ``wrap`` / ``unwrap`` protect data keys."""

DERIVING_KINDS: frozenset[KeyKind] = frozenset({"ec-p256"})
"""Kinds usable with ``derive`` (ECDH then HKDF)."""

KeyState = Literal["active", "retired"]
Backend = Literal["software", "pkcs11"]

LABEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_KEY_ID_PATTERN = re.compile(r"^([a-z0-9][a-z0-9._-]{0,63})/v([1-9][0-9]{0,8})$")


def check_label(label: str) -> str:
    if not isinstance(label, str) or not LABEL_PATTERN.match(label):
        raise InvalidInput(
            "invalid key label",
            problems=[FieldProblem("label", "lower-case letters, digits, '.', '_', '-'; at most 64")],
        )
    return label


def check_kind(kind: str) -> KeyKind:
    for known in KEY_KINDS:
        if kind == known:
            return known
    raise InvalidInput("unknown key kind", problems=[FieldProblem("kind", f"one of {', '.join(KEY_KINDS)}")])


def make_key_id(label: str, version: int) -> str:
    return f"{check_label(label)}/v{version}"


def parse_key_id(key_id: str) -> tuple[str, int]:
    """``"data-kek/v3"`` → ``("data-kek", 3)``; raises ``InvalidInput`` on anything else."""
    match = _KEY_ID_PATTERN.match(key_id) if isinstance(key_id, str) else None
    if match is None:
        raise InvalidInput("invalid key id", problems=[FieldProblem("key_id", "expected '<label>/v<n>'")])
    return match.group(1), int(match.group(2))


@dataclass(frozen=True)
class KeyInfo:
    """What a store tells about one key version. Never carries key material."""

    key_id: str
    label: str
    kind: KeyKind
    version: int
    state: KeyState
    created_at: datetime
    backend: Backend
    extractable: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "key_id": self.key_id,
            "label": self.label,
            "kind": self.kind,
            "version": self.version,
            "state": self.state,
            "created_at": self.created_at.isoformat(),
            "backend": self.backend,
            "extractable": self.extractable,
        }


@dataclass(frozen=True)
class KeyRecord:
    """A backend's entry for one version, live or destroyed (tombstones keep versions unique)."""

    label: str
    kind: KeyKind
    version: int
    created_at: datetime
    destroyed: bool = False

    @property
    def key_id(self) -> str:
        return make_key_id(self.label, self.version)


def infos_from_records(records: list[KeyRecord], backend: Backend) -> list[KeyInfo]:
    """Live versions as ``KeyInfo``; the highest live version of each label is the active one."""
    live = [r for r in records if not r.destroyed]
    newest: dict[str, int] = {}
    for r in live:
        newest[r.label] = max(newest.get(r.label, 0), r.version)
    return [
        KeyInfo(
            key_id=r.key_id,
            label=r.label,
            kind=r.kind,
            version=r.version,
            state="active" if newest[r.label] == r.version else "retired",
            created_at=r.created_at,
            backend=backend,
        )
        for r in sorted(live, key=lambda r: (r.label, r.version))
    ]


def next_version(records: list[KeyRecord], label: str) -> int:
    """Versions are never reused, even after a destroy (tombstones count)."""
    return 1 + max((r.version for r in records if r.label == label), default=0)


def active_info(rec: KeyRecord, backend: Backend) -> KeyInfo:
    """The ``KeyInfo`` of a version just added (the newest, so the active one)."""
    return KeyInfo(rec.key_id, rec.label, rec.kind, rec.version, "active", rec.created_at, backend)


def info_by_id(infos: list[KeyInfo], key_id: str) -> KeyInfo:
    """The key with this id (any state); ``KeyNotFound`` otherwise."""
    for info in infos:
        if info.key_id == key_id:
            return info
    raise KeyNotFound("no such key")


def active_by_label(infos: list[KeyInfo], label: str) -> KeyInfo:
    """The active version of the key named ``label``; ``KeyNotFound`` otherwise."""
    for info in infos:
        if info.label == label and info.state == "active":
            return info
    raise KeyNotFound("no such key")
