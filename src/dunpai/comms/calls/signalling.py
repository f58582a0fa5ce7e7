"""Call signalling over the E2E channel: ring, accept, reject, hang up, busy, mute, group join/leave.

A pure state machine for one user's phone. Every operation takes the current :class:`Phone` and
the event time and returns a :class:`Step`: the next phone, the signalling messages to send (E2E
content ``{"type":"call","v":1,…}``, carried by Olm to a user or Megolm to a group — the service
only relays ciphertext) and the events to show. Nothing here does I/O or reads a clock.

The media key of a 1:1 call travels inside ``ring`` (so inside Olm). A group call uses the talk-
group's media key; whenever the set of participants changes the step carries a ``rekey`` event
with the new roster, and the participant listed first makes and distributes a fresh key (see
:func:`dunpai.comms.media.sframe.new_media_key`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dunpai.comms.errors import CommsError, MalformedFrame

CALL_VERSION = 1
RING_TIMEOUT_MS = 30_000
ACTIONS = frozenset({"ring", "accept", "reject", "hangup", "busy", "mute", "join", "leave"})
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class SignallingError(CommsError):
    """A call message that does not fit the call (wrong sender, unknown call): refused."""

    code = "call_refused"


class CallPhase(enum.StrEnum):
    RINGING_OUT = "ringing_out"
    RINGING_IN = "ringing_in"
    ACTIVE = "active"


class EndReason(enum.StrEnum):
    HANGUP = "hangup"
    REMOTE_HANGUP = "remote_hangup"
    REJECTED = "rejected"
    BUSY = "busy"
    TIMEOUT = "timeout"
    MISSED = "missed"


@dataclass(frozen=True)
class CallMessage:
    """One signalling message (validated E2E content)."""

    call_id: str
    action: str
    media: str = "audio"
    group_id: str | None = None
    muted: bool | None = None
    key: Mapping[str, Any] | None = None

    def to_content(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "call", "v": CALL_VERSION, "call_id": self.call_id, "action": self.action,
                                "media": self.media}
        if self.group_id is not None:
            body["group_id"] = self.group_id
        if self.muted is not None:
            body["muted"] = self.muted
        if self.key is not None:
            body["key"] = dict(self.key)
        return body

    @classmethod
    def from_content(cls, content: Mapping[str, Any]) -> CallMessage:
        if content.get("type") != "call" or content.get("v") != CALL_VERSION:
            raise MalformedFrame(f"call signalling needs type=call and v={CALL_VERSION}")
        call_id, action, media = content.get("call_id"), content.get("action"), content.get("media", "audio")
        group_id, muted, key = content.get("group_id"), content.get("muted"), content.get("key")
        if not (isinstance(call_id, str) and _ID.fullmatch(call_id)) or action not in ACTIONS:
            raise MalformedFrame("call signalling: bad call_id or action")
        if media not in ("audio", "video") or (group_id is not None and not isinstance(group_id, str)):
            raise MalformedFrame("call signalling: bad media or group_id")
        if (muted is not None and not isinstance(muted, bool)) or (key is not None and not isinstance(key, dict)):
            raise MalformedFrame("call signalling: bad muted or key")
        extra = set(content) - {"type", "v", "call_id", "action", "media", "group_id", "muted", "key"}
        if extra:
            raise MalformedFrame(f"call signalling: unknown fields {sorted(extra)}")
        return cls(call_id, str(action), str(media), group_id, muted, key)


@dataclass(frozen=True)
class Call:
    call_id: str
    peer: str | None            # 1:1 peer; None for a group call
    phase: CallPhase
    media: str
    since_ms: int
    group_id: str | None = None
    muted: bool = False
    peer_muted: frozenset[str] = frozenset()
    participants: frozenset[str] = frozenset()   # group call: who is in it (including me)
    key: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Event:
    kind: str                   # incoming | connected | ended | muted | joined | left | rekey | busy_refused
    call_id: str
    who: str | None = None
    reason: EndReason | None = None
    roster: tuple[str, ...] = ()
    muted: bool | None = None


@dataclass(frozen=True)
class Send:
    """Send ``message`` to user ``to`` (Olm) or to group ``group`` (Megolm)."""

    message: CallMessage
    to: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Phone:
    user: str
    call: Call | None = None
    ring_timeout_ms: int = RING_TIMEOUT_MS
    ended: tuple[tuple[str, EndReason], ...] = field(default=())  # history, newest last


@dataclass(frozen=True)
class Step:
    phone: Phone
    send: tuple[Send, ...] = ()
    events: tuple[Event, ...] = ()


def _end(phone: Phone, reason: EndReason, *sends: Send) -> Step:
    call = phone.call
    if call is None:
        return Step(phone)
    nxt = replace(phone, call=None, ended=(*phone.ended, (call.call_id, reason)))
    return Step(nxt, sends, (Event("ended", call.call_id, call.peer, reason),))


def place_call(phone: Phone, call_id: str, peer: str, now_ms: int, *, media: str = "audio",
               key: Mapping[str, Any] | None = None) -> Step:
    """Ring ``peer``; ``key`` is the call's media key content (it rides inside the E2E ring)."""
    if phone.call is not None:
        raise SignallingError("already in a call")
    if peer == phone.user:
        raise SignallingError("cannot call yourself")
    msg = CallMessage(call_id, "ring", media, key=key)
    msg = CallMessage.from_content(msg.to_content())  # validates ids and media
    call = Call(call_id, peer, CallPhase.RINGING_OUT, media, now_ms, key=key)
    return Step(replace(phone, call=call), (Send(msg, to=peer),))


def accept(phone: Phone, now_ms: int) -> Step:
    call = phone.call
    if call is None or call.phase is not CallPhase.RINGING_IN or call.peer is None:
        raise SignallingError("no incoming call to accept")
    nxt = replace(phone, call=replace(call, phase=CallPhase.ACTIVE, since_ms=now_ms))
    return Step(nxt, (Send(CallMessage(call.call_id, "accept", call.media), to=call.peer),),
                (Event("connected", call.call_id, call.peer),))


def reject(phone: Phone, now_ms: int) -> Step:
    call = phone.call
    if call is None or call.phase is not CallPhase.RINGING_IN or call.peer is None:
        raise SignallingError("no incoming call to reject")
    return _end(phone, EndReason.REJECTED, Send(CallMessage(call.call_id, "reject", call.media), to=call.peer))


def hangup(phone: Phone, now_ms: int) -> Step:
    """Hang up or cancel (1:1), or leave (group call)."""
    call = phone.call
    if call is None:
        return Step(phone)
    if call.group_id is not None:
        return _end(phone, EndReason.HANGUP, Send(CallMessage(call.call_id, "leave", call.media,
                                                              group_id=call.group_id), group=call.group_id))
    return _end(phone, EndReason.HANGUP, Send(CallMessage(call.call_id, "hangup", call.media), to=call.peer))


def set_mute(phone: Phone, muted: bool, now_ms: int) -> Step:
    call = phone.call
    if call is None or call.phase is not CallPhase.ACTIVE:
        raise SignallingError("not in an active call")
    msg = CallMessage(call.call_id, "mute", call.media, group_id=call.group_id, muted=muted)
    send = Send(msg, group=call.group_id) if call.group_id else Send(msg, to=call.peer)
    return Step(replace(phone, call=replace(call, muted=muted)), (send,))


def join_group_call(phone: Phone, group_id: str, call_id: str, now_ms: int, *, media: str = "audio") -> Step:
    if phone.call is not None:
        raise SignallingError("already in a call")
    call = Call(call_id, None, CallPhase.ACTIVE, media, now_ms, group_id=group_id,
                participants=frozenset({phone.user}))
    msg = CallMessage.from_content(CallMessage(call_id, "join", media, group_id=group_id).to_content())
    return Step(replace(phone, call=call), (Send(msg, group=group_id),),
                (Event("joined", call_id, phone.user, roster=(phone.user,)),))


def _rekey(call: Call) -> Event:
    return Event("rekey", call.call_id, roster=tuple(sorted(call.participants)))


def receive(phone: Phone, sender: str, msg: CallMessage, now_ms: int, *, group_id: str | None = None) -> Step:
    """A signalling message from ``sender`` (authenticated by the E2E channel) arrived."""
    if sender == phone.user:
        return Step(phone)  # our own message, echoed to our other devices
    call = phone.call
    if msg.action == "ring":
        if call is not None:  # already busy: refuse without disturbing the current call
            return Step(phone, (Send(CallMessage(msg.call_id, "busy", msg.media), to=sender),),
                        (Event("busy_refused", msg.call_id, sender),))
        incoming = Call(msg.call_id, sender, CallPhase.RINGING_IN, msg.media, now_ms, key=msg.key)
        return Step(replace(phone, call=incoming), (), (Event("incoming", msg.call_id, sender),))
    if msg.group_id is not None:
        return _group_message(phone, sender, msg, now_ms, group_id)
    if call is None or call.call_id != msg.call_id:
        return Step(phone)  # late message for a call that is over: nothing to do
    if call.peer != sender:
        raise SignallingError("call message from someone who is not in the call")
    if msg.action == "accept":
        if call.phase is not CallPhase.RINGING_OUT:
            raise SignallingError("accept for a call that is not ringing")
        return Step(replace(phone, call=replace(call, phase=CallPhase.ACTIVE, since_ms=now_ms)), (),
                    (Event("connected", call.call_id, sender),))
    if msg.action in ("reject", "busy"):
        if call.phase is not CallPhase.RINGING_OUT:
            raise SignallingError(f"{msg.action} for a call that is not ringing")
        return _end(phone, EndReason.REJECTED if msg.action == "reject" else EndReason.BUSY)
    if msg.action == "hangup":
        return _end(phone, EndReason.MISSED if call.phase is CallPhase.RINGING_IN else EndReason.REMOTE_HANGUP)
    if msg.action == "mute":
        if call.phase is not CallPhase.ACTIVE or msg.muted is None:
            raise SignallingError("mute outside an active call")
        pm = call.peer_muted | {sender} if msg.muted else call.peer_muted - {sender}
        return Step(replace(phone, call=replace(call, peer_muted=pm)), (),
                    (Event("muted", call.call_id, sender, muted=msg.muted),))
    raise SignallingError(f"{msg.action!r} is not valid in a 1:1 call")


def _group_message(phone: Phone, sender: str, msg: CallMessage, now_ms: int, group_id: str | None) -> Step:
    if group_id != msg.group_id:
        raise SignallingError("group call message not sent through its group")
    call = phone.call
    if call is None or call.call_id != msg.call_id or call.group_id != msg.group_id:
        return Step(phone)  # not in that group call
    if msg.action == "join":
        if sender in call.participants:
            return Step(phone)
        nxt = replace(call, participants=call.participants | {sender})
        # tell the newcomer we are here (so everyone learns the full roster), then rekey
        hello = Send(CallMessage(call.call_id, "join", call.media, group_id=call.group_id), group=call.group_id)
        return Step(replace(phone, call=nxt), (hello,), (Event("joined", call.call_id, sender), _rekey(nxt)))
    if msg.action == "leave":
        if sender not in call.participants:
            return Step(phone)
        nxt = replace(call, participants=call.participants - {sender}, peer_muted=call.peer_muted - {sender})
        return Step(replace(phone, call=nxt), (), (Event("left", call.call_id, sender), _rekey(nxt)))
    if msg.action == "mute" and msg.muted is not None:
        pm = call.peer_muted | {sender} if msg.muted else call.peer_muted - {sender}
        return Step(replace(phone, call=replace(call, peer_muted=pm)), (),
                    (Event("muted", call.call_id, sender, muted=msg.muted),))
    raise SignallingError(f"{msg.action!r} is not valid in a group call")


def tick(phone: Phone, now_ms: int) -> Step:
    """Ring timeout: an unanswered outgoing call is cancelled; an incoming one becomes missed."""
    call = phone.call
    if call is None or call.phase is CallPhase.ACTIVE or now_ms - call.since_ms < phone.ring_timeout_ms:
        return Step(phone)
    if call.phase is CallPhase.RINGING_OUT:
        return _end(phone, EndReason.TIMEOUT, Send(CallMessage(call.call_id, "hangup", call.media), to=call.peer))
    return _end(phone, EndReason.MISSED)


def is_key_maker(phone: Phone, event: Event) -> bool:
    """Whether this phone makes the new key after a ``rekey`` event (the first in the roster)."""
    return event.kind == "rekey" and bool(event.roster) and event.roster[0] == phone.user
