"""Group sessions (Megolm via vodozemac), with rotation and replay rejection. Pure: the caller
passes the time.

An outbound session is bound to the exact set of member devices it was shared with. It is rotated
(a fresh session, shared again over Olm) whenever that set changes - so a removed member never
gets a key for later messages - and after ``max_messages`` messages or ``max_age_s`` seconds.
Inbound sessions remember which device shared them and which message indexes were already read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import vodozemac as vz

from dunpai.comms.errors import DecryptionFailed, ReplayDetected
from dunpai.comms.protocol.canonical import b64d
from dunpai.comms.protocol.padding import pad_json, unpad_json


@dataclass(frozen=True)
class RotationPolicy:
    max_messages: int = 100
    max_age_s: int = 7 * 86400


@dataclass
class Outbound:
    session: vz.GroupSession
    devices: frozenset[tuple[str, str]]
    created_at: float
    sent: int = 0


@dataclass
class Inbound:
    session: vz.InboundGroupSession
    group_id: str
    sender: str
    sender_device: str
    seen: set[int] = field(default_factory=set)


class GroupCrypto:
    def __init__(self, user: str, device_id: str, policy: RotationPolicy | None = None) -> None:
        self.user = user
        self.device_id = device_id
        self.policy = policy or RotationPolicy()
        self.outbound: dict[str, Outbound] = {}
        self.inbound: dict[str, Inbound] = {}

    def needs_rotation(self, group_id: str, devices: frozenset[tuple[str, str]], now: float) -> bool:
        out = self.outbound.get(group_id)
        return (
            out is None
            or out.devices != devices
            or out.sent >= self.policy.max_messages
            or now - out.created_at >= self.policy.max_age_s
        )

    def rotate(self, group_id: str, devices: frozenset[tuple[str, str]], now: float) -> dict[str, Any]:
        """Start a fresh outbound session; returns the room-key content to share over Olm."""
        session = vz.GroupSession()
        self.outbound[group_id] = Outbound(session, devices, now)
        key = session.session_key.to_base64()
        # Our own devices read our messages too.
        self.add_inbound(group_id, self.user, self.device_id, {"session_key": key})
        return {"type": "room_key", "group_id": group_id, "session_id": session.session_id,
                "session_key": key}

    def add_inbound(self, group_id: str, sender: str, sender_device: str, room_key: dict[str, Any]) -> str:
        try:
            session = vz.InboundGroupSession(vz.SessionKey(str(room_key["session_key"])))
        except (KeyError, ValueError) as exc:
            raise DecryptionFailed("room key is not readable") from exc
        known = self.inbound.get(session.session_id)
        if known is not None and (known.sender, known.sender_device) != (sender, sender_device):
            raise DecryptionFailed("room key already known from another device")
        if known is None:
            self.inbound[session.session_id] = Inbound(session, group_id, sender, sender_device)
        return str(session.session_id)

    def encrypt(self, group_id: str, mid: str, content: dict[str, Any]) -> str:
        out = self.outbound[group_id]
        body = {"v": 1, "group_id": group_id, "mid": mid, "sender": self.user,
                "sender_device": self.device_id, "content": content}
        message = out.session.encrypt(pad_json(body))
        out.sent += 1
        return f"megolm1.{out.session.session_id}.{message.to_base64()}"

    def decrypt(self, group_id: str, sender: str, sender_device: str, payload: str) -> dict[str, Any]:
        try:
            tag, session_id, body = payload.split(".", 2)
            if tag != "megolm1":
                raise ValueError(tag)
            b64d(body + "=" * (-len(body) % 4))
            message = vz.MegolmMessage.from_base64(body)
        except ValueError as exc:
            raise DecryptionFailed("group message is not readable") from exc
        inbound = self.inbound.get(session_id)
        if inbound is None:
            raise DecryptionFailed("no key for this group session (not a member when it was shared)")
        if (inbound.group_id, inbound.sender, inbound.sender_device) != (group_id, sender, sender_device):
            raise DecryptionFailed("group session does not belong to that sender and group")
        try:
            decrypted = inbound.session.decrypt(message)
        except ValueError as exc:
            raise DecryptionFailed("group message could not be decrypted") from exc
        if decrypted.message_index in inbound.seen:
            raise ReplayDetected("group message index already seen")
        inbound.seen.add(decrypted.message_index)
        envelope = unpad_json(bytes(decrypted.plaintext))
        if (envelope.get("v"), envelope.get("group_id"), envelope.get("sender"),
                envelope.get("sender_device")) != (1, group_id, sender, sender_device) or not isinstance(
                envelope.get("content"), dict):
            raise DecryptionFailed("group message envelope does not match its sender")
        return envelope

    # -- persistence ----------------------------------------------------------------------------
    def to_state(self, pickle_key: bytes) -> dict[str, Any]:
        return {
            "outbound": {g: {"p": o.session.pickle(pickle_key), "devices": sorted(o.devices),
                             "created_at": o.created_at, "sent": o.sent} for g, o in self.outbound.items()},
            "inbound": {s: {"p": i.session.pickle(pickle_key), "group_id": i.group_id, "sender": i.sender,
                            "sender_device": i.sender_device, "seen": sorted(i.seen)}
                        for s, i in self.inbound.items()},
        }

    def load_state(self, state: dict[str, Any], pickle_key: bytes) -> None:
        self.outbound = {
            g: Outbound(vz.GroupSession.from_pickle(o["p"], pickle_key),
                        frozenset((u, d) for u, d in o["devices"]), o["created_at"], o["sent"])
            for g, o in state["outbound"].items()
        }
        self.inbound = {
            s: Inbound(vz.InboundGroupSession.from_pickle(i["p"], pickle_key), i["group_id"], i["sender"],
                       i["sender_device"], set(i["seen"]))
            for s, i in state["inbound"].items()
        }
