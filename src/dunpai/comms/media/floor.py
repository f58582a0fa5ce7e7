"""Push-to-talk floor control for a talk-group, modelled on 3GPP MCPTT floor control (TS 24.380).

A pure state machine: every operation takes the current :class:`FloorState` and the event time
(``now_ms``) and returns a :class:`Transition` — the next state and the floor-control messages to
send, each naming its recipients. Nothing here reads a clock, does I/O or mutates its inputs, so
replaying the same events gives the same floor decisions.

Mapping to TS 24.380 (floor control server, "G:" states):

* ``IDLE`` = *G: Floor Idle*, ``TAKEN`` = *G: Floor Taken*, ``REVOKING`` = *G: pending Floor Revoke*.
* messages: Floor Granted, Floor Deny, Floor Queue Position Info (``queued``), Floor Taken (to
  listeners, with the talker's identity), Floor Idle, Floor Revoke, and a floor status for late
  joiners (the *Floor Taken* a joining participant receives).
* timers: T1 *end of RTP media* (``media_timeout_ms``: a talker who stops sending — dropped link —
  frees the floor), T2 *stop talking* (``max_talk_ms``) and T3 *stop talking grace*
  (``revoke_grace_ms``: how long a revoked talker may keep talking before the floor is taken).

Queue order is priority first (higher first), then arrival. An emergency request outranks every
ordinary priority and pre-empts a talker of lower priority: the talker gets Floor Revoke, and the
floor passes to the emergency requester when the talker releases or the grace runs out.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from dunpai.comms.errors import CommsError

FLOOR_FORMAT = "dunpai-floor-v1"
MAX_PRIORITY = 255
EMERGENCY_PRIORITY = MAX_PRIORITY + 1


class FloorError(CommsError):
    """A floor operation by someone who may not perform it (not a member, not the talker)."""

    code = "floor_forbidden"


class Phase(enum.StrEnum):
    IDLE = "idle"
    TAKEN = "taken"
    REVOKING = "revoking"


class Kind(enum.StrEnum):
    GRANTED = "floor_granted"
    DENIED = "floor_deny"
    QUEUED = "floor_queued"
    TAKEN = "floor_taken"
    IDLE = "floor_idle"
    REVOKED = "floor_revoke"
    STATUS = "floor_status"


class Cause(enum.StrEnum):
    """Why a floor was denied, revoked or freed (stable strings, shown to users)."""

    NONE = ""
    QUEUE_FULL = "queue_full"
    QUEUEING_OFF = "queueing_off"
    PREEMPTED = "preempted"
    MAX_TALK_TIME = "max_talk_time"
    MEDIA_TIMEOUT = "media_timeout"
    RELEASED = "released"
    LEFT = "left"


@dataclass(frozen=True)
class FloorConfig:
    max_talk_ms: int = 30_000       # T2
    media_timeout_ms: int = 2_000   # T1
    revoke_grace_ms: int = 500      # T3
    queue_limit: int = 16
    queueing: bool = True

    def __post_init__(self) -> None:
        if min(self.max_talk_ms, self.media_timeout_ms, self.revoke_grace_ms) <= 0 or self.queue_limit < 0:
            raise ValueError("floor timers must be positive and the queue limit non-negative")


@dataclass(frozen=True)
class Talker:
    user: str
    priority: int
    emergency: bool
    burst: int          # talk-burst number, increases with every grant
    granted_ms: int
    last_media_ms: int


@dataclass(frozen=True)
class Waiting:
    user: str
    priority: int
    emergency: bool
    arrival: int        # arrival order, breaks priority ties
    at_ms: int


@dataclass(frozen=True)
class FloorMessage:
    """One floor-control message for ``recipients``; ``talker`` is the current talker's identity."""

    kind: Kind
    recipients: tuple[str, ...]
    talker: str | None = None
    burst: int | None = None
    position: int | None = None
    cause: Cause = Cause.NONE
    emergency: bool = False

    def to_wire(self, group_id: str) -> dict[str, object]:
        body: dict[str, object] = {"v": 1, "type": self.kind.value, "group_id": group_id}
        if self.talker is not None:
            body["talker"] = self.talker
        if self.burst is not None:
            body["burst"] = self.burst
        if self.position is not None:
            body["position"] = self.position
        if self.cause:
            body["cause"] = self.cause.value
        if self.emergency:
            body["emergency"] = True
        return body


@dataclass(frozen=True)
class FloorState:
    group_id: str
    members: Mapping[str, int]              # user -> priority (0 … 255); read-only by convention
    config: FloorConfig = field(default_factory=FloorConfig)
    present: frozenset[str] = frozenset()   # members currently connected
    phase: Phase = Phase.IDLE
    talker: Talker | None = None
    queue: tuple[Waiting, ...] = ()
    revoke_deadline_ms: int | None = None
    next_arrival: int = 0
    next_burst: int = 1

    def position_of(self, user: str) -> int | None:
        for i, w in enumerate(self.queue):
            if w.user == user:
                return i + 1
        return None


@dataclass(frozen=True)
class Transition:
    state: FloorState
    messages: tuple[FloorMessage, ...] = ()

    def to(self, user: str) -> list[FloorMessage]:
        return [m for m in self.messages if user in m.recipients]


def new_talk_group(group_id: str, members: Mapping[str, int], config: FloorConfig | None = None) -> FloorState:
    for user, prio in members.items():
        _check_priority(user, prio)
    return FloorState(group_id=group_id, members=dict(members), config=config or FloorConfig())


def _check_priority(user: str, prio: int) -> None:
    if not isinstance(prio, int) or not 0 <= prio <= MAX_PRIORITY:
        raise ValueError(f"priority of {user!r} must be an integer 0…{MAX_PRIORITY}")


def _require_member(state: FloorState, user: str) -> None:
    if user not in state.members:
        raise FloorError(f"{user!r} is not a member of talk-group {state.group_id!r}")


def _listeners(state: FloorState, *exclude: str | None) -> tuple[str, ...]:
    return tuple(sorted(u for u in state.present if u not in exclude))


def _enqueue(queue: Iterable[Waiting], w: Waiting) -> tuple[Waiting, ...]:
    return tuple(sorted([*queue, w], key=lambda q: (-q.priority, q.arrival)))


def _position_updates(before: FloorState, after: FloorState, skip: str | None = None) -> list[FloorMessage]:
    """Floor Queue Position Info for every waiting user whose position changed."""
    out = []
    for i, w in enumerate(after.queue):
        if w.user != skip and before.position_of(w.user) != i + 1:
            out.append(FloorMessage(Kind.QUEUED, (w.user,), talker=_talker_name(after), position=i + 1))
    return out


def _talker_name(state: FloorState) -> str | None:
    return state.talker.user if state.talker else None


def _grant(state: FloorState, user: str, priority: int, emergency: bool, now_ms: int) -> Transition:
    talker = Talker(user, priority, emergency, state.next_burst, now_ms, now_ms)
    nxt = replace(state, phase=Phase.TAKEN, talker=talker, next_burst=state.next_burst + 1,
                  revoke_deadline_ms=None, queue=tuple(w for w in state.queue if w.user != user))
    msgs = [FloorMessage(Kind.GRANTED, (user,), talker=user, burst=talker.burst, emergency=emergency),
            FloorMessage(Kind.TAKEN, _listeners(nxt, user), talker=user, burst=talker.burst, emergency=emergency)]
    msgs += _position_updates(state, nxt)
    return Transition(nxt, tuple(m for m in msgs if m.recipients))


def _free(state: FloorState, now_ms: int, cause: Cause) -> Transition:
    """The talker is gone: grant the head of the queue, or go idle."""
    cleared = replace(state, phase=Phase.IDLE, talker=None, revoke_deadline_ms=None)
    if cleared.queue:
        head = cleared.queue[0]
        return _grant(cleared, head.user, head.priority, head.emergency, now_ms)
    msg = FloorMessage(Kind.IDLE, _listeners(cleared), cause=cause)
    return Transition(cleared, (msg,) if msg.recipients else ())


def join(state: FloorState, user: str, now_ms: int) -> Transition:
    """A member connects; a late joiner is told the current talk-burst state."""
    _require_member(state, user)
    nxt = replace(state, present=state.present | {user})
    if state.talker is None:
        return Transition(nxt, (FloorMessage(Kind.STATUS, (user,)),))
    t = state.talker
    return Transition(nxt, (FloorMessage(Kind.STATUS, (user,), talker=t.user, burst=t.burst, emergency=t.emergency),))


def leave(state: FloorState, user: str, now_ms: int) -> Transition:
    """A member disconnects: leaves the queue, and frees the floor if it was talking."""
    _require_member(state, user)
    nxt = replace(state, present=state.present - {user}, queue=tuple(w for w in state.queue if w.user != user))
    if state.talker is not None and state.talker.user == user:
        return _free(nxt, now_ms, Cause.LEFT)
    return Transition(nxt, tuple(_position_updates(state, nxt)))


def request(state: FloorState, user: str, now_ms: int, *, emergency: bool = False) -> Transition:
    """Floor Request: grant, queue, pre-empt or deny."""
    _require_member(state, user)
    if user not in state.present:
        raise FloorError(f"{user!r} is not connected to talk-group {state.group_id!r}")
    prio = EMERGENCY_PRIORITY if emergency else state.members[user]
    talker = state.talker
    if talker is None:
        return _grant(state, user, prio, emergency, now_ms)
    if talker.user == user:  # a repeated request while holding the floor: confirm
        return Transition(state, (FloorMessage(Kind.GRANTED, (user,), talker=user, burst=talker.burst,
                                               emergency=talker.emergency),))
    existing = state.position_of(user)
    if existing is not None:
        old = state.queue[existing - 1]
        if prio <= old.priority:
            return Transition(state, (FloorMessage(Kind.QUEUED, (user,), talker=talker.user, position=existing),))
        state = replace(state, queue=tuple(w for w in state.queue if w.user != user))
    preempt = prio > talker.priority and emergency and state.phase is Phase.TAKEN
    if not preempt and not state.config.queueing:
        return Transition(state, (FloorMessage(Kind.DENIED, (user,), talker=talker.user, cause=Cause.QUEUEING_OFF),))
    if not preempt and existing is None and len(state.queue) >= state.config.queue_limit:
        return Transition(state, (FloorMessage(Kind.DENIED, (user,), talker=talker.user, cause=Cause.QUEUE_FULL),))
    waiting = Waiting(user, prio, emergency, state.next_arrival, now_ms)
    nxt = replace(state, queue=_enqueue(state.queue, waiting), next_arrival=state.next_arrival + 1)
    msgs = [FloorMessage(Kind.QUEUED, (user,), talker=talker.user, position=nxt.position_of(user))]
    msgs += _position_updates(state, nxt, skip=user)
    if preempt:
        nxt = replace(nxt, phase=Phase.REVOKING, revoke_deadline_ms=now_ms + state.config.revoke_grace_ms)
        msgs.append(FloorMessage(Kind.REVOKED, (talker.user,), talker=talker.user, burst=talker.burst,
                                 cause=Cause.PREEMPTED))
    return Transition(nxt, tuple(msgs))


def release(state: FloorState, user: str, now_ms: int) -> Transition:
    """Floor Release by the talker (ends the burst) or by a waiting user (cancels the request)."""
    _require_member(state, user)
    if state.talker is not None and state.talker.user == user:
        return _free(state, now_ms, Cause.RELEASED)
    if state.position_of(user) is not None:
        nxt = replace(state, queue=tuple(w for w in state.queue if w.user != user))
        return Transition(nxt, tuple(_position_updates(state, nxt)))
    return Transition(state)


def media(state: FloorState, user: str, now_ms: int) -> FloorState:
    """Media from ``user``: only the talker may send; refreshes the T1 (end of media) timer."""
    talker = state.talker
    if talker is None or talker.user != user:
        verify_talker(state, user)  # raises
        raise FloorError("unreachable")
    return replace(state, talker=replace(talker, last_media_ms=now_ms))


def verify_talker(state: FloorState, user: str) -> None:
    """Raise unless ``user`` holds the floor (a revoked talker keeps it during the grace period)."""
    if state.talker is None or state.talker.user != user:
        raise FloorError(f"{user!r} does not hold the floor of talk-group {state.group_id!r}")


def tick(state: FloorState, now_ms: int) -> Transition:
    """Advance the timers to ``now_ms``: T1 end of media, T2 max talk time, T3 revoke grace."""
    t = state.talker
    if t is None:
        return Transition(state)
    if now_ms - t.last_media_ms >= state.config.media_timeout_ms:
        return _free(state, now_ms, Cause.MEDIA_TIMEOUT)
    if state.phase is Phase.REVOKING:
        if state.revoke_deadline_ms is not None and now_ms >= state.revoke_deadline_ms:
            return _free(state, now_ms, Cause.PREEMPTED)
        return Transition(state)
    if now_ms - t.granted_ms >= state.config.max_talk_ms:
        nxt = replace(state, phase=Phase.REVOKING, revoke_deadline_ms=now_ms + state.config.revoke_grace_ms)
        return Transition(nxt, (FloorMessage(Kind.REVOKED, (t.user,), talker=t.user, burst=t.burst,
                                             cause=Cause.MAX_TALK_TIME),))
    return Transition(state)


def add_member(state: FloorState, user: str, priority: int) -> FloorState:
    _check_priority(user, priority)
    return replace(state, members={**state.members, user: priority})


def remove_member(state: FloorState, user: str, now_ms: int) -> Transition:
    """Remove ``user`` from the talk-group (leaving first if connected, queued or talking)."""
    _require_member(state, user)
    tr = leave(state, user, now_ms)
    members = {u: p for u, p in tr.state.members.items() if u != user}
    return Transition(replace(tr.state, members=members), tr.messages)
