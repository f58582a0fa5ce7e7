"""Calls and push-to-talk across the bridge, on loopback: a spanning talk-group whose floor server is
the private deployment's relay, public members joined through the bridge's media link; a 1:1 call
hosted by the private relay; policy refusals; the media link handles only sealed frames, and the
crossing audit (dunpai.audit) holds the sessions without content or addresses. Every relay ticket
comes from the private service, issued to the bridge's account on the member's behalf: the bridge
has no relay secret."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from dunpai.comms.bridge.audit import CrossingLog
from dunpai.comms.bridge.certs import client_context
from dunpai.comms.bridge.federated import FederatedClient
from dunpai.comms.bridge.media_link import LinkTickets, MediaLink, Upstream
from dunpai.comms.bridge.policy import parse_policy
from dunpai.comms.bridge.relay import Bridge
from dunpai.comms.errors import CommsError, Forbidden, MalformedFrame
from dunpai.comms.media import codec
from dunpai.comms.media import floor as fl
from dunpai.comms.media.key_exchange import receive_media_key
from dunpai.comms.media.ptt_client import PttClient
from dunpai.comms.media.relay_launch import RunningRelay, start_relay
from dunpai.comms.media.relay_ticket import verify_ticket
from dunpai.comms.media.sframe import HEADER_LEN, MediaKey, new_media_key
from dunpai.comms.media.ticket_policy import RelayPolicy
from dunpai.comms.protocol import frames as f
from dunpai.comms.server.service import ServiceConfig
from tests.comms.bridge.test_bridge_federation import _user, crossing_log, two_deployments
from tests.comms.helpers import run

RELAY_SECRET = b"r" * 32  # the private relay's and service's; never given to the bridge
ADDRESS = re.compile(rb"127\.0\.0\.1|localhost|::1|\b\d{1,3}(\.\d{1,3}){3}\b")
POLICY = {
    "version": 1,
    "deployments": ["private", "public"],
    "allow": [
        {"from": ["wang@private"], "to": ["li@public"], "services": ["message", "call"], "both_ways": True},
        {"from": ["eve@private"], "to": ["li@public"], "services": ["message"]},
    ],
    "spanning_groups": {
        "convoy": {"members": ["wang@private", "zhao@private", "li@public", "chen@public"],
                   "services": ["message", "ptt"], "floor": "private", "priorities": {"wang@private": 5}},
        "chat": {"members": ["eve@private", "li@public"], "services": ["message"], "floor": "public"},
        "mixed": {"members": ["wang@private", "zhao@private", "li@public"], "services": ["message", "file"],
                  "floor": "public"},
    },
}


def tone(seconds: float, hz: float = 330.0) -> codec.PCM:
    t = np.arange(int(codec.SAMPLE_RATE * seconds)) / codec.SAMPLE_RATE
    return (np.sin(2 * np.pi * hz * t) * np.sin(2 * np.pi * 2 * t) * 10000).astype(np.int16)


@dataclass
class World:
    bridge: Bridge
    log: CrossingLog
    relay: RunningRelay          # the private deployment's media relay (floor server of 'convoy')
    link: MediaLink
    users: dict[str, FederatedClient]
    link_handled: list[tuple[str, int, str | bytes]] = field(default_factory=list)
    relay_handled: list[tuple[str, int, str | bytes]] = field(default_factory=list)


@asynccontextmanager
async def bridged_world(tmp: Path, names: tuple[str, ...]) -> AsyncIterator[World]:
    """Two deployments, the bridge, the private relay and the bridge's media link; users ``name@dep``.
    The private service issues relay tickets (members, and the bridge's account on behalf of members
    across the bridge); the bridge gets them from it and knows no relay secret."""
    link_handled: list[tuple[str, int, str | bytes]] = []
    relay_handled: list[tuple[str, int, str | bytes]] = []
    relay = await start_relay(RELAY_SECRET, config=fl.FloorConfig(revoke_grace_ms=100),
                              record=lambda d, c, m: relay_handled.append((d, c, m)))
    private = ServiceConfig(relay=RelayPolicy(RELAY_SECRET, url=relay.url, delegates=("bridge",)))
    async with two_deployments(tmp, {"private": private}) as (priv, pub, bcert, bkey):
        log = crossing_log(tmp)
        bridge = Bridge(parse_policy(POLICY), log)
        for name, side in (("private", priv), ("public", pub)):
            await bridge.join(name, f"wss://127.0.0.1:{side.bridge_port}", side.svc.service.create_invite(),
                              ssl_context=client_context(side.cert, bcert, bkey))
        tickets = LinkTickets({})
        link = MediaLink(tickets, {"private": Upstream(functools.partial(bridge.relay_access, "private")),
                                   "public": Upstream(functools.partial(bridge.relay_access, "public"))}, log,
                         record=lambda d, c, m: link_handled.append((d, c, m)))
        port = await link.start("127.0.0.1", 0)
        tickets.urls.update({"private": f"ws://127.0.0.1:{port}", "public": f"ws://127.0.0.1:{port}"})
        bridge.links = tickets
        users: dict[str, FederatedClient] = {}
        try:
            for address in names:
                user, dep = address.split("@")
                svc = priv.svc if dep == "private" else pub.svc
                users[address] = await _user(svc.url, user, svc.service.create_invite(), home=dep)
            yield World(bridge, log, relay, link, users, link_handled, relay_handled)
        finally:
            for c in users.values():
                await c.close()
            await asyncio.sleep(0.2)  # the link audits sessions as they close
            await link.stop()
            await relay.stop()
            await bridge.close()


async def share_media_key(sender: FederatedClient, group: str, receivers: list[FederatedClient]) -> MediaKey:
    """A media key for the spanning group's roster, sent end to end (Megolm through the bridge)."""
    roster = await sender.span_roster(group)
    key = new_media_key(group, 1, roster, os.urandom)
    await sender.span_send_content(group, key.to_content())
    for r in receivers:
        assert await receive_media_key(r, group) == key
    return key


def media_does_not_decode(frames: list[bytes], said: codec.PCM) -> None:
    """What the bridge handled holds no decodable audio: decoding the frames (whole, or without the
    header) as Opus resembles the speech no more than noise, and no plain Opus packet of it occurs."""
    assert len(frames) > 30
    for strip in (0, HEADER_LEN):
        dec = codec.OpusDecoder()
        heard = np.concatenate([dec.decode(m[strip:]) for m in frames[:30]])
        assert codec.similarity(said, heard) < 0.2
    plain = codec.encode_pcm(said)
    assert not any(p in m for p in plain[5:25] for m in frames)


def test_spanning_talk_group_ptt_across_the_bridge(tmp_path: Path) -> None:
    said_by_wang, said_by_li = tone(0.8), tone(0.8, 520.0)
    world_box: list[World] = []

    async def scenario() -> None:
        async with bridged_world(tmp_path, ("wang@private", "eve@private", "li@public")) as w:
            world_box.append(w)
            wang, eve, li = (w.users[a] for a in ("wang@private", "eve@private", "li@public"))
            key = await share_media_key(wang, "convoy", [li])
            assert key.roster == ("chen@public", "li@public", "wang@private", "zhao@private")
            # wang is on the floor server's deployment: through the bridge he gets its relay and a
            # ticket from his own service (issued to the bridge's account on his behalf)
            wang_url, wang_ticket = await wang.media_ticket(group="convoy")
            assert wang_url == w.relay.url
            claims = verify_ticket(RELAY_SECRET, wang_ticket, int(time.time() * 1000))
            assert (claims.group_id, claims.user, claims.priority) == ("bridge/convoy", "wang@private", 5)
            pw = PttClient(wang_url, wang_ticket, key, "wang@private")
            # li is on the public side: the bridge admits him to its media link, which joins him to
            # the private relay - the one floor server of the group - with a ticket from the private
            # service
            url, ticket = await li.media_ticket(group="convoy")
            assert url != w.relay.url
            pl = PttClient(url, ticket, key, "li@public")
            try:
                await pw.connect()
                welcome = await pl.connect()
                assert welcome["user"] == "li@public" and welcome["group_id"] == "bridge/convoy"
                await pw.request_floor()
                await pw.expect("floor_granted")
                assert (await pl.expect("floor_taken"))["talker"] == "wang@private"
                await pl.request_floor()  # floor control stays with the private relay: li is queued
                assert (await pl.expect("floor_queued"))["position"] == 1
                await pw.talk(said_by_wang, pace=0.25)
                await pw.release_floor()
                assert (await pl.expect("floor_granted"))["talker"] == "li@public"
                await pl.talk(said_by_li, pace=0.25)
                await pl.release_floor()
                await pw.expect("floor_idle")
                await asyncio.sleep(0.1)
                [heard_by_li] = pl.bursts
                assert heard_by_li.talker == "wang@private"
                assert codec.similarity(said_by_wang, heard_by_li.pcm()) > 0.8
                [heard_by_wang] = pw.bursts
                assert heard_by_wang.talker == "li@public"
                assert codec.similarity(said_by_li, heard_by_wang.pcm()) > 0.8
                assert pl.rejected == 0 and pw.rejected == 0
            finally:
                await pl.close()
                await pw.close()
            # refusals: not a member, a group without push-to-talk; an ordinary user cannot ask the
            # service for a ticket on someone else's behalf, nor the bridge for a local group
            with pytest.raises(Forbidden, match="eve@private is not a member of spanning group 'convoy'"):
                await eve.media_ticket(group="convoy")
            with pytest.raises(Forbidden, match="spanning group 'chat' does not allow 'ptt'"):
                await eve.media_ticket(group="chat")
            with pytest.raises(Forbidden, match="only the bridge may ask on behalf"):
                await eve._c().request(f.RelayTicket, mode="ptt", group_id="convoy", on_behalf="li@public")
            _, other = await w.bridge.relay_access("private", "ops", "li@public", 1, "ptt")  # never a local group
            assert verify_ticket(RELAY_SECRET, other, int(time.time() * 1000)).group_id == "bridge/ops"
            # a connection to the link without a valid link ticket is refused
            guess = new_media_key("convoy", 9, ("eve@private",), os.urandom)  # eve has no real key
            forged = PttClient(url, "forged.ticket", guess, "eve@private")
            with pytest.raises(CommsError, match="ticket refused"):
                await forged.connect()
            await forged.close()

    run(scenario(), timeout=90)
    w = world_box[0]
    # the link carried li's session both ways: sealed frames only, and no network address
    down = [m for d, _, m in w.link_handled if d == "out" and isinstance(m, bytes)]
    up = [m for d, _, m in w.link_handled if d == "in" and isinstance(m, bytes)]
    media_does_not_decode(down, said_by_wang)
    media_does_not_decode(up, said_by_li)
    for _, _, m in w.link_handled:
        assert not ADDRESS.search(m if isinstance(m, bytes) else m.encode()), m
    # the relay saw li as li@public (through the link), never an address of his
    assert w.link.stats.sessions == 1 and w.link.stats.refused == 1
    report = w.log.verify()
    assert report.ok, report
    entries = w.log.entries()
    ops = {(e["op"], e["from"], e["decision"]) for e in entries}
    assert ("media_ticket", "li@public", "allowed") in ops
    assert ("media_ticket", "eve@private", "refused") in ops and ("media_join", "li@public", "allowed") in ops
    [leave] = [e for e in entries if e["op"] == "media_leave"]
    assert leave["to"] == "convoy" and leave["service"] == "ptt"
    assert leave["frames_down"] == len(down) and leave["frames_up"] == len(up)
    for part in tmp_path.glob("bridge-audit.db*"):  # the audit chain (and its WAL)
        assert not ADDRESS.search(part.read_bytes()), part.name


def test_one_to_one_call_across_the_bridge(tmp_path: Path) -> None:
    said_a, said_b = tone(0.4), tone(0.4, 520.0)

    async def scenario() -> None:
        async with bridged_world(tmp_path, ("wang@private", "eve@private", "li@public")) as w:
            wang, eve, li = (w.users[a] for a in ("wang@private", "eve@private", "li@public"))
            call_id = secrets.token_hex(12)
            # the call's media key goes inside the E2E ring (here: a media_key message over Olm)
            key = new_media_key(call_id, 1, ("li@public", "wang@private"), os.urandom)
            await wang.send_remote_content("li@public", key.to_content())
            got = await li.receive(10)
            assert got.kind == "media_key" and got.content is not None
            assert MediaKey.from_content(got.content) == key
            # hosted by wang's deployment: he joins his relay directly, li through the bridge's link;
            # both tickets come from the private service, for one session derived from both addresses
            wang_url, wang_ticket = await wang.media_ticket(mode="call", call=call_id, peer="li@public",
                                                             host="private")
            assert wang_url == w.relay.url
            a = PttClient(wang_url, wang_ticket, key, "wang@private")
            url, ticket = await li.media_ticket(mode="call", call=call_id, peer="wang@private")
            b = PttClient(url, ticket, key, "li@public")
            try:
                await a.connect()
                assert (await b.connect())["mode"] == "call"
                await asyncio.gather(a.talk(said_a, pace=0.25), b.talk(said_b, pace=0.25))  # full duplex
                await asyncio.sleep(0.2)
                assert codec.similarity(said_a, b.bursts[0].pcm()) > 0.8
                assert codec.similarity(said_b, a.bursts[0].pcm()) > 0.8
            finally:
                await a.close()
                await b.close()
            with pytest.raises(Forbidden, match="does not allow 'call' from eve@private to li@public"):
                await eve.media_ticket(mode="call", call=secrets.token_hex(12), peer="li@public")
            with pytest.raises(Forbidden, match="unguessable"):
                await li.media_ticket(mode="call", call="short", peer="wang@private")
            with pytest.raises(Forbidden, match="one of its two parties"):
                await li.media_ticket(mode="call", call=secrets.token_hex(12), peer="wang@private", host="elsewhere")

    run(scenario(), timeout=90)


def test_service_issues_relay_tickets_on_behalf_only_to_its_bridge_and_only_for_bridge_sessions() -> None:
    import json

    policy = RelayPolicy(RELAY_SECRET, url="ws://relay", delegates=("bridge",))

    def ask(who: str, **fields: object) -> dict[str, object]:
        raw = json.dumps({"v": 1, "type": "relay_ticket", "id": 1, **fields})
        return policy.grant_delegated(who, f.parse_client_frame(raw), 1000.0)

    ptt = ask("bridge", mode="ptt", group_id="convoy", priority=5, on_behalf="li@public")
    claims = verify_ticket(RELAY_SECRET, str(ptt["ticket"]), 1000 * 1000)
    assert (claims.group_id, claims.user, claims.priority, claims.mode) == ("bridge/convoy", "li@public", 5, "ptt")
    assert ask("bridge", mode="call", group_id="convoy", call_id="c1", on_behalf="li@public")["session"] == \
        "bridge/convoy/call/c1"
    assert ask("bridge", mode="call", call_id="abc", on_behalf="li@public")["session"] == "bridge/call/abc"
    with pytest.raises(Forbidden, match="only the bridge"):
        ask("wang", mode="ptt", group_id="convoy", on_behalf="li@public")
    with pytest.raises(Forbidden, match="priority 10 is above 9"):
        ask("bridge", mode="ptt", group_id="convoy", priority=10, on_behalf="li@public")
    with pytest.raises(MalformedFrame, match="no peer"):
        ask("bridge", mode="call", call_id="abc", peer="wang", on_behalf="li@public")
    with pytest.raises(MalformedFrame, match="on_behalf needs"):
        ask("bridge", mode="ptt", on_behalf="li@public")
    with pytest.raises(MalformedFrame):  # a local user name (no @) is never an on_behalf address
        ask("bridge", mode="ptt", group_id="convoy", on_behalf="wang")
