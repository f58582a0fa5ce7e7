"""A device's local state - Olm account and sessions, group sessions, pinned contacts, seen message
ids - kept sealed by the key store at rest (file written atomically; versioned format)."""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dunpai.comms.errors import DecryptionFailed
from dunpai.comms.keys_port import StateSealer
from dunpai.comms.protocol.canonical import b64d, b64e
from dunpai.comms.protocol.megolm import GroupCrypto, RotationPolicy
from dunpai.comms.protocol.olm import DeviceCrypto

STATE_FORMAT = "dunpai-comms-state-v1"
MAX_SEEN = 50_000


@dataclass
class LocalState:
    user: str
    device_id: str
    olm: DeviceCrypto
    groups: GroupCrypto
    pickle_key: bytes = field(default_factory=lambda: os.urandom(32))
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: OrderedDict[str, None] = field(default_factory=OrderedDict)
    registered: bool = False
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # received file refs, by message id
    group_names: dict[str, str] = field(default_factory=dict)  # group id -> name, learnt end to end (group_meta)

    @classmethod
    def new(cls, user: str, device_id: str, policy: RotationPolicy | None = None) -> LocalState:
        return cls(user, device_id, DeviceCrypto(user, device_id), GroupCrypto(user, device_id, policy))

    def mark_seen(self, key: str) -> bool:
        """Record a message key; False if it was already seen (a duplicate delivery)."""
        if key in self.seen:
            return False
        self.seen[key] = None
        while len(self.seen) > MAX_SEEN:
            self.seen.popitem(last=False)
        return True

    def to_bytes(self) -> bytes:
        return json.dumps({
            "format": STATE_FORMAT, "user": self.user, "device_id": self.device_id,
            "pickle_key": b64e(self.pickle_key), "olm": self.olm.to_state(self.pickle_key),
            "groups": self.groups.to_state(self.pickle_key), "contacts": self.contacts,
            "seen": list(self.seen), "registered": self.registered, "files": self.files,
            "group_names": self.group_names,
        }).encode()

    @classmethod
    def from_bytes(cls, raw: bytes, policy: RotationPolicy | None = None) -> LocalState:
        data = json.loads(raw)
        if data.get("format") != STATE_FORMAT:
            raise DecryptionFailed("unsupported local state format")
        key = b64d(data["pickle_key"])
        olm = DeviceCrypto.from_state(data["user"], data["device_id"], data["olm"], key)
        groups = GroupCrypto(data["user"], data["device_id"], policy)
        groups.load_state(data["groups"], key)
        return cls(data["user"], data["device_id"], olm, groups, key, data["contacts"],
                   OrderedDict((k, None) for k in data["seen"]), data["registered"], data.get("files", {}),
                   data.get("group_names", {}))


def _aad(path: Path) -> bytes:
    return f"{STATE_FORMAT}:{path.name}".encode()


def save_state(state: LocalState, path: Path, sealer: StateSealer) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(sealer.seal(state.to_bytes(), aad=_aad(path)))
    os.replace(tmp, path)


def load_state(path: Path, sealer: StateSealer, policy: RotationPolicy | None = None) -> LocalState:
    return LocalState.from_bytes(sealer.open(path.read_bytes(), aad=_aad(path)), policy)
