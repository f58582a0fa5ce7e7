"""The comms service's relay-ticket policy: who gets a ticket for which relay session.

The service has authenticated the device and knows group membership; this module turns a
``relay_ticket`` request into a ticket (:mod:`dunpai.comms.media.relay_ticket`) for one relay session:

* ``ptt`` + ``group_id``: the talk-group, for a member of that comms group. Priority comes from
  the member's role (``RelayPolicy.priorities``); a request may ask for less, never for more.
* ``call`` + ``group_id`` + ``call_id``: a group call among members of the group; the relay
  session is ``<group_id>/call/<call_id>``.
* ``call`` + ``peer`` + ``call_id``: a 1:1 call; the relay session is derived from the two user
  ids and the call id (:func:`call_session_id`), so only the two of them can get a ticket for it.

Non-members get the service's usual ``not_found`` (it never says whether a group exists).

``on_behalf`` (``user@deployment``): a *delegate* — the bridge's account, listed in
``RelayPolicy.delegates`` — asks for a member of a spanning talk-group or call, whose membership
the bridge's policy decides. Such tickets are only for sessions under ``bridge/`` (``bridge/<group>``,
``bridge/<group>/call/<call_id>``, ``bridge/call/<call_id>``), never for a local group, and only for a
full address (a local user name has no ``@``); the priority is at most the policy's highest. So the
bridge never needs the relay's secret.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from dunpai.comms.errors import Conflict, Forbidden, MalformedFrame, NotFound
from dunpai.comms.media.relay_ticket import Ticket, issue_ticket
from dunpai.comms.protocol import frames as f

DEFAULT_TTL_S = 600
DEFAULT_PRIORITIES = (("owner", 9), ("admin", 5), ("member", 1))


def call_session_id(user_a: str, user_b: str, call_id: str) -> str:
    """The relay session of the 1:1 call ``call_id`` between two users (same for both sides)."""
    lo, hi = sorted((user_a, user_b))
    digest = hashlib.sha256(f"dunpai-call-v1\0{lo}\0{hi}\0{call_id}".encode()).hexdigest()
    return f"call/{digest[:32]}"


def group_call_session_id(group_id: str, call_id: str) -> str:
    return f"{group_id}/call/{call_id}"


@dataclass(frozen=True)
class RelayPolicy:
    """What the service needs to issue relay tickets (configured on the service host)."""

    secret: bytes = field(repr=False)
    url: str | None = None               # told to clients so they need not be configured with it
    ttl_s: int = DEFAULT_TTL_S
    priorities: tuple[tuple[str, int], ...] = DEFAULT_PRIORITIES
    delegates: tuple[str, ...] = ()     # accounts (the bridge) that may ask on behalf of remote members

    def __post_init__(self) -> None:
        if len(self.secret) < 32:
            raise ValueError("relay secret must be at least 32 bytes")
        if not 1 <= self.ttl_s <= 86_400:
            raise ValueError("relay ticket ttl_s must be 1 … 86400 seconds")
        if any(not 0 <= p <= 255 for _, p in self.priorities):
            raise ValueError("relay priorities must be 0 … 255")

    def priority_of(self, role: str) -> int:
        return dict(self.priorities).get(role, 0)

    def grant_delegated(self, delegate: str, frame: f.RelayTicket, now_s: float) -> dict[str, Any]:
        """A ticket for ``frame.on_behalf``, asked by ``delegate`` (see the module's docstring)."""
        if delegate not in self.delegates:
            raise Forbidden("relay_ticket: on_behalf: only the bridge may ask on behalf of another user")
        if frame.peer is not None or (frame.mode == "ptt") != (frame.call_id is None) \
                or (frame.mode == "ptt" and frame.group_id is None):
            raise MalformedFrame("relay_ticket: on_behalf needs group_id (ptt), group_id + call_id or call_id "
                                 "(call), and no peer")
        base = "bridge" if frame.group_id is None else f"bridge/{frame.group_id}"
        session = base if frame.call_id is None else f"{base}/call/{frame.call_id}"
        cap = max(p for _, p in self.priorities)
        priority = 1 if frame.priority is None else frame.priority
        if priority > cap:
            raise Forbidden(f"relay_ticket: priority {priority} is above {cap}")
        assert frame.on_behalf is not None
        return self._ticket(session, frame.on_behalf, priority, frame.mode, now_s)

    def _ticket(self, session: str, user: str, priority: int, mode: str, now_s: float) -> dict[str, Any]:
        expires_ms = int((now_s + self.ttl_s) * 1000)
        token = issue_ticket(self.secret, Ticket(session, user, priority, expires_ms, mode))
        return {"ticket": token, "session": session, "mode": mode, "priority": priority,
                "expires_ms": expires_ms, "relay": self.url}

    def grant(self, user: str, frame: f.RelayTicket, role: str | None, peer_exists: bool,
              now_s: float) -> dict[str, Any]:
        """A ticket for ``user`` (authenticated). ``role``: the user's role in ``frame.group_id``
        (the caller has checked membership); ``peer_exists``: whether ``frame.peer`` is a user."""
        if frame.mode == "ptt":
            if frame.group_id is None or frame.call_id is not None or frame.peer is not None:
                raise MalformedFrame("relay_ticket: mode ptt needs group_id, and no call_id or peer")
            session = frame.group_id
        else:
            if frame.call_id is None or (frame.group_id is None) == (frame.peer is None):
                raise MalformedFrame("relay_ticket: mode call needs call_id and exactly one of group_id / peer")
            if frame.peer is not None:
                if frame.peer == user:
                    raise Conflict("relay_ticket: peer: cannot call yourself")
                if not peer_exists:
                    raise NotFound("no such user")
                session = call_session_id(user, frame.peer, frame.call_id)
            else:
                assert frame.group_id is not None
                session = group_call_session_id(frame.group_id, frame.call_id)
        cap = self.priority_of(role) if role is not None else 1
        priority = cap if frame.priority is None else frame.priority
        if priority > cap:
            raise Forbidden(f"relay_ticket: priority {priority} is above what your role allows ({cap})")
        return self._ticket(session, user, priority, frame.mode, now_s)
