"""Call signalling and media keys travel inside the E2E channel of the real comms service."""

from __future__ import annotations

import os
from pathlib import Path

from tests.comms.helpers import run

from dunpai.comms.calls import signalling as sg
from dunpai.comms.calls.signalling import CallMessage, CallPhase, Phone
from dunpai.comms.client.client import CommsClient
from dunpai.comms.client.enrol import new_user
from dunpai.comms.media.key_exchange import receive_media_key, send_media_key
from dunpai.comms.media.sframe import FrameOpener, FrameSealer, MediaKey, new_media_key
from dunpai.comms.server.launch import start_service


async def next_call(c: CommsClient) -> tuple[str, CallMessage, str | None]:
    while True:
        m = await c.receive(10)
        if m.kind == "call" and m.content is not None:
            return m.sender, CallMessage.from_content(m.content), m.group_id


def test_ring_accept_hangup_over_olm_and_group_rekey_over_megolm(tmp_path: Path) -> None:
    async def scenario() -> None:
        svc = await start_service(f"sqlite:///{tmp_path / 'c.db'}")
        alice = await new_user(svc.url, "alice", svc.service.create_invite())
        bob = await new_user(svc.url, "bob", svc.service.create_invite())
        carol = await new_user(svc.url, "carol", svc.service.create_invite())
        try:
            # 1:1: the call's media key rides inside the Olm-encrypted ring
            key = new_media_key("call-1", 1, ("alice", "bob"), os.urandom)
            pa, pb = Phone("alice"), Phone("bob")
            ring = sg.place_call(pa, "call-1", "bob", 0, key=key.to_content())
            pa = ring.phone
            for s in ring.send:
                assert s.to is not None
                await alice.send_content(s.to, s.message.to_content())
            sender, msg, _ = await next_call(bob)
            step = sg.receive(pb, sender, msg, 1)
            assert step.events[0].kind == "incoming" and step.phone.call is not None
            assert step.phone.call.key is not None
            bob_key = MediaKey.from_content(step.phone.call.key)
            frame = FrameSealer(key, "alice").seal(b"opus")
            assert FrameOpener(bob_key).open(frame) == ("alice", b"opus")
            acc = sg.accept(step.phone, 2)
            await bob.send_content("alice", acc.send[0].message.to_content())
            sender, msg, _ = await next_call(alice)
            pa = sg.receive(pa, sender, msg, 3).phone
            assert pa.call is not None and pa.call.phase is CallPhase.ACTIVE
            hang = sg.hangup(pa, 4)
            await alice.send_content("bob", hang.send[0].message.to_content())
            sender, msg, _ = await next_call(bob)
            assert sg.receive(acc.phone, sender, msg, 5).phone.call is None
            # group: a new media key goes over Megolm; after carol is removed she gets no later key
            await alice.group_create("ops")
            await alice.group_add("ops", "bob")
            await alice.group_add("ops", "carol")
            k1 = new_media_key("ops", 1, ("alice", "bob", "carol"), os.urandom)
            await send_media_key(alice, "ops", k1)
            assert await receive_media_key(bob, "ops") == k1
            assert await receive_media_key(carol, "ops") == k1
            await alice.group_remove("ops", "carol")
            k2 = new_media_key("ops", 2, ("alice", "bob"), os.urandom)
            await send_media_key(alice, "ops", k2)
            assert await receive_media_key(bob, "ops") == k2
            try:
                got = await receive_media_key(carol, "ops", timeout=0.5)
            except TimeoutError:
                got = None
            assert got is None
            later = FrameSealer(k2, "alice").seal(b"after carol left")
            assert FrameOpener(k2).open(later)[1] == b"after carol left"
        finally:
            for c in (alice, bob, carol):
                await c.close()
            await svc.stop()

    run(scenario())


def test_talker_rekeys_when_the_members_changed(tmp_path: Path) -> None:
    from dunpai.comms.media.sessions import key_for_talking

    async def scenario() -> None:
        svc = await start_service(f"sqlite:///{tmp_path / 'c.db'}")
        users = [await new_user(svc.url, u, svc.service.create_invite()) for u in ("alice", "bob", "carol")]
        alice, bob, carol = users
        try:
            await alice.group_create("ops")
            await alice.group_add("ops", "bob")
            await alice.group_add("ops", "carol")
            k1 = await key_for_talking(alice, "ops", wait_s=0.2, random_bytes=os.urandom, now_s=1000.0)
            assert k1.roster == ("alice", "bob", "carol") and k1.epoch == 1000
            # bob holds the current key for the current members: he talks with it
            assert await key_for_talking(bob, "ops", wait_s=0.5, random_bytes=os.urandom, now_s=1001.0) == k1
            await alice.group_remove("ops", "carol")
            # carol left: the next talker makes a fresh key for alice and bob only
            k2 = await key_for_talking(bob, "ops", wait_s=0.2, random_bytes=os.urandom, now_s=1002.0)
            assert k2.roster == ("alice", "bob") and k2.secret != k1.secret
            assert await receive_media_key(alice, "ops") == k2
            assert (await receive_media_key(carol, "ops")) == k1  # carol only ever got the old key
            try:
                extra = await receive_media_key(carol, "ops", timeout=0.5)
            except TimeoutError:
                extra = None
            assert extra is None
        finally:
            for c in users:
                await c.close()
            await svc.stop()

    run(scenario())
