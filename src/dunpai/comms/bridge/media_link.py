"""The bridge's media link: calls and push-to-talk across deployments, sealed frames only.

A talk-group or call that spans deployments has exactly one media server: the relay of its *host*
deployment (a spanning group's ``floor`` deployment; for a 1:1 call, the deployment of the peer
who hosts it). That relay is the only floor control server for the group. Members on the host
deployment use their relay directly; members on another deployment ask the bridge for a link
ticket (``fed1 media_ticket``, over their authenticated, policy-checked E2E path) and connect to
the bridge's media link instead of a relay. The link speaks the relay's client protocol: for each
member it checks the link ticket, asks the host deployment's service for a relay ticket for that
member (``user@deployment``; the service issues it to the bridge's account on the member's behalf,
so the bridge holds no relay secret), opens one connection to the host relay with it, and from then
on copies control messages and sealed media frames both ways unchanged. Floor requests of remote
members therefore reach the host relay's floor state machine like everyone else's; the link decides
nothing about the floor. Members on the host deployment get their relay's URL and a ticket through
the bridge as well (:meth:`~dunpai.comms.bridge.relay.Bridge.relay_access`).

The link never holds a media key (keys travel as E2E content between the users' devices; see
:meth:`~dunpai.comms.bridge.federated.FederatedClient.span_send_content`). It reads no frame beyond
the 15-byte header check, records no network address, and audits each session (who, which group,
mode, frames and bytes each way) when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from dunpai.comms.bridge.audit import CrossingLog
from dunpai.comms.errors import AuthFailed, CommsError, Forbidden, MalformedFrame, NotConfigured
from dunpai.comms.media.relay import MAX_CONTROL_FRAME, MAX_MEDIA_FRAME
from dunpai.comms.media.relay_ticket import Ticket, issue_ticket, verify_ticket
from dunpai.comms.media.sframe import parse_header

LINK_TICKET_TTL_MS = 10 * 60_000
HELLO_TIMEOUT_S = 10.0
_silent = logging.getLogger("dunpai.comms.bridge-media-internal")
_silent.addHandler(logging.NullHandler())
_silent.propagate = False
_silent.setLevel(logging.CRITICAL + 1)

Recorder = Callable[[str, int, str | bytes], None]      # (direction, link session, message)
# (bridge session, user@deployment, priority, mode) -> (relay URL the host service names, relay ticket)
IssueRelayTicket = Callable[[str, str, int, str], Awaitable[tuple[str | None, str]]]


def _ms() -> int:
    """Unix time in ms: relay tickets carry the issuer's wall-clock expiry."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Upstream:
    """A deployment's media relay as the link reaches it (``url``; None: the URL its service names)
    and how the link gets tickets for it (from that service, e.g. :meth:`Bridge.relay_access`)."""

    issue: IssueRelayTicket = field(repr=False)
    url: str | None = None
    ssl_context: ssl.SSLContext | None = None


def relay_request(session: str, mode: str) -> dict[str, str]:
    """The ``relay_ticket`` fields for a bridge session: ``<group>`` (talk-group or group call) or
    ``call/<id>`` (1:1 call; the id derived from both addresses). The host service puts every
    such session under ``bridge/``, apart from its local groups."""
    if session.startswith("call/") and mode == "call":
        return {"call_id": session[len("call/"):]}
    return {"group_id": session}


@dataclass
class LinkTickets:
    """Issues and checks link tickets (HMAC with a per-process secret: a bridge restart voids them).
    ``urls``: where each deployment's members reach the link."""

    urls: dict[str, str]
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    clock_ms: Callable[[], int] = _ms
    # deployments whose members reach the link through a constant-rate tunnel: its pinned X25519 key
    cbr_keys: dict[str, bytes] = field(default_factory=dict)

    def url_for(self, deployment: str) -> str:
        url = self.urls.get(deployment)
        if url is None:
            raise NotConfigured(f"this bridge has no media link for deployment {deployment!r}")
        return url

    def issue(self, host: str, session_id: str, user: str, priority: int, mode: str) -> str:
        return issue_ticket(self.secret, Ticket(f"{host}:{session_id}", user, priority,
                                                self.clock_ms() + LINK_TICKET_TTL_MS, mode))

    def check(self, token: str) -> tuple[str, Ticket]:
        """(host deployment, ticket with the group/call id) or ``AuthFailed``."""
        t = verify_ticket(self.secret, token, self.clock_ms())
        host, _, session_id = t.group_id.partition(":")
        return host, Ticket(session_id, t.user, t.priority, t.expires_ms, t.mode)


@dataclass
class LinkStats:
    sessions: int = 0
    frames_up: int = 0      # member -> host relay
    frames_down: int = 0    # host relay -> member
    refused: int = 0


def _error(exc: CommsError) -> str:
    return json.dumps({"v": 1, "type": "error", "code": exc.code, "message": exc.message}, ensure_ascii=False)


@dataclass(eq=False)
class MediaLink:
    tickets: LinkTickets
    upstreams: dict[str, Upstream]
    log: CrossingLog
    record: Recorder | None = None
    clock: Callable[[], float] = time.time
    stats: LinkStats = field(default_factory=LinkStats)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _servers: list[Server] = field(default_factory=list)

    async def start(self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None) -> int:
        server = await serve(self._handle, host, port, compression=None, server_header=None, ssl=ssl_context,
                             max_size=MAX_CONTROL_FRAME, logger=_silent, ping_interval=20, ping_timeout=20)
        self._servers.append(server)
        return int(next(iter(server.sockets)).getsockname()[1])

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()
        self._servers.clear()

    def _rec(self, direction: str, session: int, data: str | bytes) -> None:
        if self.record is not None:
            self.record(direction, session, data)

    async def _hello(self, ws: ServerConnection) -> tuple[str, Ticket]:
        async with asyncio.timeout(HELLO_TIMEOUT_S):
            raw = await ws.recv()
        if not isinstance(raw, str):
            raise MalformedFrame("send hello with a link ticket first")
        try:
            frame: Any = json.loads(raw)
        except ValueError:
            raise MalformedFrame("control frame is not JSON") from None
        if not isinstance(frame, dict) or frame.get("v") != 1 or frame.get("type") != "hello" \
                or not isinstance(frame.get("ticket"), str):
            raise MalformedFrame("the first frame must be hello {ticket}")
        host, ticket = self.tickets.check(frame["ticket"])
        if host not in self.upstreams:
            raise NotConfigured(f"this bridge has no media relay for deployment {host!r}")
        return host, ticket

    async def _handle(self, ws: ServerConnection) -> None:
        session = next(self._ids)
        try:
            host, ticket = await self._hello(ws)
        except (CommsError, TimeoutError, ConnectionClosed) as exc:
            self.stats.refused += 1
            err = exc if isinstance(exc, CommsError) else AuthFailed("link ticket refused")
            self.log.record(self.clock(), "media_join", "", "", "", 0, "refused", err.code)
            with contextlib.suppress(ConnectionClosed):
                await ws.send(_error(err))
                await ws.close()
            return
        up = self.upstreams[host]
        service = "ptt" if ticket.mode == "ptt" else "call"
        try:
            named, relay_ticket = await up.issue(ticket.group_id, ticket.user, ticket.priority, ticket.mode)
            url = up.url or named
            if url is None:
                raise NotConfigured(f"the service of {host!r} names no media relay")
        except CommsError as exc:
            self.stats.refused += 1
            self.log.record(self.clock(), "media_join", ticket.user, ticket.group_id, service, 0, "refused", exc.code)
            with contextlib.suppress(ConnectionClosed):
                await ws.send(_error(exc))
                await ws.close()
            return
        try:
            upstream = await connect(url, ssl=up.ssl_context, compression=None, max_size=MAX_CONTROL_FRAME,
                                     open_timeout=10, logger=_silent)
        except (OSError, TimeoutError, ConnectionClosed):
            self.log.record(self.clock(), "media_join", ticket.user, ticket.group_id, service, 0, "refused",
                            "relay_unreachable")
            with contextlib.suppress(ConnectionClosed):
                await ws.send(_error(Forbidden(f"the media relay of {host!r} is not reachable")))
                await ws.close()
            return
        self.stats.sessions += 1
        counts = {"frames_up": 0, "frames_down": 0, "bytes_up": 0, "bytes_down": 0}
        self.log.record(self.clock(), "media_join", ticket.user, ticket.group_id, service, 0, "allowed")
        try:
            await upstream.send(json.dumps({"v": 1, "type": "hello", "ticket": relay_ticket}))
            down = asyncio.create_task(self._down(session, upstream, ws, counts))
            try:
                await self._up(session, ws, upstream, counts)
            finally:
                down.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await down
        finally:
            await upstream.close()
            with contextlib.suppress(ConnectionClosed):
                await ws.close()
            self.log.record(self.clock(), "media_leave", ticket.user, ticket.group_id, service,
                            counts["bytes_up"] + counts["bytes_down"], "allowed", "", **counts)

    async def _up(self, session: int, ws: ServerConnection, upstream: ClientConnection,
                  counts: dict[str, int]) -> None:
        """Member -> host relay: sealed frames (header checked) and control messages, unchanged."""
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                self._rec("in", session, raw)
                if isinstance(raw, bytes):
                    try:
                        if len(raw) > MAX_MEDIA_FRAME:
                            raise MalformedFrame("media frame too large")
                        parse_header(raw)
                    except CommsError as exc:
                        await ws.send(_error(exc))
                        continue
                    counts["frames_up"] += 1
                    counts["bytes_up"] += len(raw)
                    self.stats.frames_up += 1
                await upstream.send(raw)

    async def _down(self, session: int, upstream: ClientConnection, ws: ServerConnection,
                    counts: dict[str, int]) -> None:
        """Host relay -> member: everything the relay sends, unchanged; ends the session when the
        relay closes."""
        try:
            async for raw in upstream:
                if isinstance(raw, bytes):
                    counts["frames_down"] += 1
                    counts["bytes_down"] += len(raw)
                    self.stats.frames_down += 1
                self._rec("out", session, raw)
                await ws.send(raw)
        except ConnectionClosed:
            pass
        await ws.close()
