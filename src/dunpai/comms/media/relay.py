"""The media relay's core, without I/O: admission, floor control per talk-group, media fan-out.

Participants never connect to each other: every frame goes through the relay, which forwards the
sealed frame unchanged to the other connected members of the talk-group or call. For a talk-group
(ticket mode ``ptt``) the relay acts as the MCPTT floor control server
(:mod:`dunpai.comms.media.floor`) and forwards media only from the floor holder; a call (mode
``call``) is full duplex: media from every participant goes to the others. It sees ticket claims
(group, user, priority), the 15-byte frame header and ciphertext; never keys, never plaintext. Its
outputs name connections by an opaque integer and contain no network address — the transport
(:mod:`dunpai.comms.media.relay_ws`) never reads one.

Control frames (JSON text, version 1): client → relay ``hello {ticket}``, ``floor_request
{emergency?}``, ``floor_release``; relay → client ``welcome {group_id, user}``, the floor messages
of :class:`~dunpai.comms.media.floor.Kind`, in a call ``present {group_id, users}`` whenever someone
connects or disconnects, and ``error {code, message}``. Media: binary messages,
one sealed frame each (:mod:`dunpai.comms.media.sframe`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dunpai.comms.errors import Conflict, MalformedFrame, NotAuthenticated, TooLarge, UnknownType
from dunpai.comms.media import floor as fl
from dunpai.comms.media.relay_ticket import verify_ticket
from dunpai.comms.media.sframe import parse_header

MAX_MEDIA_FRAME = 1_400
MAX_CONTROL_FRAME = 4_096


@dataclass(frozen=True)
class Out:
    conn: int
    data: str | bytes


@dataclass
class RelayStats:
    frames_in: int = 0
    frames_out: int = 0
    dropped_not_talker: int = 0


@dataclass
class RelayCore:
    secret: bytes = field(repr=False)
    config: fl.FloorConfig = field(default_factory=fl.FloorConfig)
    floors: dict[str, fl.FloorState] = field(default_factory=dict)
    stats: RelayStats = field(default_factory=RelayStats)
    modes: dict[str, str] = field(default_factory=dict)   # group -> "ptt" | "call", fixed by the first hello
    _who: dict[int, tuple[str, str]] = field(default_factory=dict)
    _conn_of: dict[tuple[str, str], int] = field(default_factory=dict)

    def who(self, conn: int) -> tuple[str, str] | None:
        return self._who.get(conn)

    def _emit(self, group_id: str, tr: fl.Transition) -> list[Out]:
        self.floors[group_id] = tr.state
        out = []
        for m in tr.messages:
            text = json.dumps(m.to_wire(group_id), separators=(",", ":"))
            out += [Out(self._conn_of[(group_id, u)], text) for u in m.recipients if (group_id, u) in self._conn_of]
        return out

    def hello(self, conn: int, token: str, now_ms: int, wall_ms: int | None = None) -> list[Out]:
        """Admit ``conn``. Ticket expiry is checked against ``wall_ms`` (Unix ms, the issuer's clock)
        when given, else ``now_ms``; floor timers run on ``now_ms``."""
        t = verify_ticket(self.secret, token, now_ms if wall_ms is None else wall_ms)
        if conn in self._who:
            raise Conflict("this connection already joined")
        if (t.group_id, t.user) in self._conn_of:
            raise Conflict("already connected to this talk-group")
        if self.modes.setdefault(t.group_id, t.mode) != t.mode:
            raise Conflict("ticket mode does not match the session's mode")
        state = self.floors.get(t.group_id) or fl.new_talk_group(t.group_id, {}, self.config)
        state = fl.add_member(state, t.user, min(t.priority, fl.MAX_PRIORITY))
        self._who[conn] = (t.group_id, t.user)
        self._conn_of[(t.group_id, t.user)] = conn
        welcome = json.dumps({"v": 1, "type": "welcome", "group_id": t.group_id, "user": t.user, "mode": t.mode},
                             separators=(",", ":"))
        joined = fl.join(state, t.user, now_ms)
        if t.mode == "call":  # full duplex: no floor control; everyone learns who is connected
            self.floors[t.group_id] = joined.state
            return [Out(conn, welcome), *self._present(t.group_id)]
        return [Out(conn, welcome), *self._emit(t.group_id, joined)]

    def control(self, conn: int, text: str, now_ms: int, wall_ms: int | None = None) -> list[Out]:
        if len(text) > MAX_CONTROL_FRAME:
            raise TooLarge("control frame too large")
        try:
            frame: Any = json.loads(text)
        except ValueError:
            raise MalformedFrame("control frame is not JSON") from None
        if not isinstance(frame, dict) or frame.get("v") != 1 or not isinstance(frame.get("type"), str):
            raise MalformedFrame("control frame needs v=1 and a type")
        kind = frame["type"]
        if kind == "hello":
            token = frame.get("ticket")
            if not isinstance(token, str):
                raise MalformedFrame("hello needs a ticket")
            return self.hello(conn, token, now_ms, wall_ms)
        who = self._who.get(conn)
        if who is None:
            raise NotAuthenticated("send hello with a ticket first")
        group_id, user = who
        if self.modes.get(group_id) == "call" and kind in ("floor_request", "floor_release"):
            raise UnknownType("a call has no floor control")
        if kind == "floor_request":
            emergency = frame.get("emergency", False)
            if not isinstance(emergency, bool):
                raise MalformedFrame("emergency must be a boolean")
            return self._emit(group_id, fl.request(self.floors[group_id], user, now_ms, emergency=emergency))
        if kind == "floor_release":
            return self._emit(group_id, fl.release(self.floors[group_id], user, now_ms))
        raise UnknownType(f"unknown relay frame type {kind!r}")

    def media(self, conn: int, frame: bytes, now_ms: int) -> list[Out]:
        """Forward a sealed frame from the floor holder to every other connected member."""
        who = self._who.get(conn)
        if who is None:
            raise NotAuthenticated("send hello with a ticket first")
        if len(frame) > MAX_MEDIA_FRAME:
            raise TooLarge("media frame too large")
        parse_header(frame)
        group_id, user = who
        self.stats.frames_in += 1
        if self.modes.get(group_id) != "call":  # talk-group: only the floor holder is forwarded
            try:
                self.floors[group_id] = fl.media(self.floors[group_id], user, now_ms)
            except fl.FloorError:
                self.stats.dropped_not_talker += 1
                raise
        state = self.floors[group_id]
        out = [Out(self._conn_of[(group_id, u)], frame) for u in sorted(state.present)
               if u != user and (group_id, u) in self._conn_of]
        self.stats.frames_out += len(out)
        return out

    def disconnect(self, conn: int, now_ms: int) -> list[Out]:
        who = self._who.pop(conn, None)
        if who is None:
            return []
        group_id, user = who
        del self._conn_of[who]
        left = fl.leave(self.floors[group_id], user, now_ms)
        if self.modes.get(group_id) == "call":
            self.floors[group_id] = left.state
            return self._present(group_id)
        return self._emit(group_id, left)

    def _present(self, group_id: str) -> list[Out]:
        """Call mode: ``present {users}`` (who is connected to the call now) to everyone connected."""
        users = sorted(self.floors[group_id].present)
        text = json.dumps({"v": 1, "type": "present", "group_id": group_id, "users": users}, separators=(",", ":"))
        return [Out(self._conn_of[(group_id, u)], text) for u in users if (group_id, u) in self._conn_of]

    def tick(self, now_ms: int) -> list[Out]:
        out: list[Out] = []
        for group_id, state in list(self.floors.items()):
            if self.modes.get(group_id) == "call":
                continue
            tr = fl.tick(state, now_ms)
            if tr.state is not state:
                out += self._emit(group_id, tr)
        return out
