"""Relay tickets issued by the authenticated comms service: members only, accepted by the relay;
forged and expired tickets refused by the relay."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from tests.comms.helpers import run

from dunpai.comms.client.enrol import new_user
from dunpai.comms.errors import CommsError, Conflict, Forbidden, MalformedFrame, NotConfigured, NotFound
from dunpai.comms.media.ptt_client import PttClient
from dunpai.comms.media.relay_launch import start_relay
from dunpai.comms.media.relay_ticket import verify_ticket
from dunpai.comms.media.sframe import new_media_key
from dunpai.comms.media.ticket_policy import RelayPolicy, call_session_id
from dunpai.comms.server.launch import start_service
from dunpai.comms.server.service import ServiceConfig

SECRET = bytes(range(100, 132))


def test_relay_policy_validates_its_settings() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        RelayPolicy(b"short")
    with pytest.raises(ValueError, match="ttl_s"):
        RelayPolicy(SECRET, ttl_s=0)
    with pytest.raises(ValueError, match="priorities"):
        RelayPolicy(SECRET, priorities=(("owner", 300),))


def test_members_get_tickets_the_relay_accepts_non_members_do_not(tmp_path: Path) -> None:
    async def scenario() -> None:
        relay = await start_relay(SECRET)
        cfg = ServiceConfig(relay=RelayPolicy(SECRET, url=relay.url, ttl_s=60))
        svc = await start_service(f"sqlite:///{tmp_path / 'c.db'}", config=cfg)
        alice, bob, mallory = [await new_user(svc.url, u, svc.service.create_invite())
                               for u in ("alice", "bob", "mallory")]
        clients: list[PttClient] = []
        try:
            await alice.group_create("ops")
            await alice.group_add("ops", "bob")
            got = await alice.relay_ticket("ptt", group_id="ops")
            assert (got["session"], got["mode"], got["priority"], got["relay"]) == ("ops", "ptt", 9, relay.url)
            t = verify_ticket(SECRET, got["ticket"], int(svc.service.clock() * 1000))
            assert (t.group_id, t.user, t.priority, t.mode) == ("ops", "alice", 9, "ptt")
            bob_t = await bob.relay_ticket("ptt", group_id="ops")
            assert bob_t["priority"] == 1  # role member
            assert (await alice.relay_ticket("ptt", group_id="ops", priority=5))["priority"] == 5
            with pytest.raises(Forbidden, match="priority 2 is above"):
                await bob.relay_ticket("ptt", group_id="ops", priority=2)
            # the relay admits both members and forwards between them
            key = new_media_key("ops", 1, ("alice", "bob"), os.urandom)
            for user, tk in (("alice", got), ("bob", bob_t)):
                c = PttClient(relay.url, tk["ticket"], key, user)
                clients.append(c)
                welcome = await c.connect()
                assert (welcome["group_id"], welcome["user"]) == ("ops", user)
            # a non-member gets the usual not_found, for a group that exists and one that does not
            with pytest.raises(NotFound, match="no such group"):
                await mallory.relay_ticket("ptt", group_id="ops")
            with pytest.raises(NotFound, match="no such group"):
                await mallory.relay_ticket("call", group_id="nope", call_id="c1")
            # a removed member is refused from then on
            await alice.group_remove("ops", "bob")
            with pytest.raises(NotFound):
                await bob.relay_ticket("ptt", group_id="ops")
            # group call: members only, its own session (not the talk-group's)
            gc = await alice.relay_ticket("call", group_id="ops", call_id="c1")
            assert gc["session"] == "ops/call/c1" and gc["mode"] == "call"
            # 1:1 call: both sides derive the same session; anyone else a different one
            a1 = await alice.relay_ticket("call", peer="bob", call_id="c2")
            b1 = await bob.relay_ticket("call", peer="alice", call_id="c2")
            m1 = await mallory.relay_ticket("call", peer="alice", call_id="c2")
            assert a1["session"] == b1["session"] == call_session_id("alice", "bob", "c2") != m1["session"]
            with pytest.raises(NotFound, match="no such user"):
                await alice.relay_ticket("call", peer="nobody", call_id="c3")
            with pytest.raises(Conflict, match="peer"):
                await alice.relay_ticket("call", peer="alice", call_id="c3")
            with pytest.raises(MalformedFrame, match="mode ptt needs group_id"):
                await alice.relay_ticket("ptt", peer="bob")
            with pytest.raises(MalformedFrame, match="exactly one of group_id / peer"):
                await alice.relay_ticket("call", group_id="ops", peer="bob", call_id="c4")
            with pytest.raises(MalformedFrame, match="needs call_id"):
                await alice.relay_ticket("call", peer="bob")
        finally:
            for c in clients:
                await c.close()
            for u in (alice, bob, mallory):
                await u.close()
            await svc.stop()
            await relay.stop()

    run(scenario())


def test_relay_refuses_forged_and_expired_service_tickets(tmp_path: Path) -> None:
    async def scenario() -> None:
        relay = await start_relay(SECRET)
        # this service's clock is 2 minutes behind: its 60-second tickets are expired at the relay
        slow = await start_service(f"sqlite:///{tmp_path / 's.db'}", clock=lambda: time.time() - 120,
                                   config=ServiceConfig(relay=RelayPolicy(SECRET, ttl_s=60)))
        # this one signs with another secret: its tickets are forgeries for this relay
        other = await start_service(f"sqlite:///{tmp_path / 'o.db'}",
                                    config=ServiceConfig(relay=RelayPolicy(b"x" * 32)))
        plain = await start_service(f"sqlite:///{tmp_path / 'p.db'}")
        users = [await new_user(s.url, "alice", s.service.create_invite()) for s in (slow, other, plain)]
        key = new_media_key("ops", 1, ("alice",), os.urandom)
        try:
            for u in users:
                await u.group_create("ops")
            expired = (await users[0].relay_ticket("ptt", group_id="ops"))["ticket"]
            forged = (await users[1].relay_ticket("ptt", group_id="ops"))["ticket"]
            mac = forged.split(".")[1]
            tampered = (await users[0].relay_ticket("ptt", group_id="ops"))["ticket"].split(".")[0] + "." + mac
            for bad in (expired, forged, tampered):
                c = PttClient(relay.url, bad, key, "alice")
                with pytest.raises(CommsError, match="relay ticket refused"):
                    await c.connect()
                await c.close()
            with pytest.raises(NotConfigured, match="no relay secret"):
                await users[2].relay_ticket("ptt", group_id="ops")
        finally:
            for u in users:
                await u.close()
            for s in (slow, other, plain):
                await s.stop()
            await relay.stop()

    run(scenario())
