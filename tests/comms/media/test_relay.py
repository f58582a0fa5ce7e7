"""The relay on loopback: floor control over the wire, media fan-out, no addresses, no audio."""

from __future__ import annotations

import asyncio
import json
import os
import re

import numpy as np
import pytest
from tests.comms.helpers import run

from dunpai.comms.errors import AuthFailed, MalformedFrame, NotAuthenticated
from dunpai.comms.media import codec
from dunpai.comms.media import floor as fl
from dunpai.comms.media.ptt_client import PttClient
from dunpai.comms.media.relay import RelayCore
from dunpai.comms.media.relay_launch import start_relay
from dunpai.comms.media.relay_ticket import Ticket, issue_ticket, verify_ticket
from dunpai.comms.media.sframe import HEADER_LEN, FrameSealer, new_media_key

SECRET = b"s" * 32
ADDRESS = re.compile(rb"127\.0\.0\.1|localhost|::1|\b\d{1,3}(\.\d{1,3}){3}\b")


def tone(seconds: float = 1.0) -> codec.PCM:
    t = np.arange(int(codec.SAMPLE_RATE * seconds)) / codec.SAMPLE_RATE
    return (np.sin(2 * np.pi * 330 * t) * np.sin(2 * np.pi * 2 * t) * 10000).astype(np.int16)


def test_tickets() -> None:
    tok = issue_ticket(SECRET, Ticket("g", "a", 3, 1_000))
    assert verify_ticket(SECRET, tok, 999) == Ticket("g", "a", 3, 1_000)
    with pytest.raises(AuthFailed):
        verify_ticket(SECRET, tok, 1_000)  # expired
    with pytest.raises(AuthFailed):
        verify_ticket(b"t" * 32, tok, 0)
    body, mac = tok.split(".")
    with pytest.raises(AuthFailed):
        verify_ticket(SECRET, body[:-2] + "xx." + mac, 0)
    for junk in ("", "a.b.c", "!!!.???"):
        with pytest.raises(AuthFailed):
            verify_ticket(SECRET, junk, 0)
    with pytest.raises(ValueError):
        issue_ticket(b"short", Ticket("g", "a", 1, 1))


def test_relay_core_refuses_before_hello_and_non_talker_media() -> None:
    core = RelayCore(SECRET)
    with pytest.raises(NotAuthenticated):
        core.control(1, '{"v":1,"type":"floor_request"}', 0)
    with pytest.raises(MalformedFrame):
        core.control(1, "not json", 0)
    with pytest.raises(MalformedFrame):
        core.control(1, '{"v":2,"type":"hello"}', 0)
    k = new_media_key("g", 1, ("a", "b"), os.urandom)
    core.hello(1, issue_ticket(SECRET, Ticket("g", "a", 1, 10**12)), 0)
    core.hello(2, issue_ticket(SECRET, Ticket("g", "b", 1, 10**12)), 0)
    with pytest.raises(fl.FloorError):
        core.media(2, FrameSealer(k, "b").seal(b"x" * 60), 1)
    core.control(1, '{"v":1,"type":"floor_request"}', 2)
    [out] = core.media(1, FrameSealer(k, "a").seal(b"x" * 60), 3)
    assert out.conn == 2
    assert core.stats.dropped_not_talker == 1


def test_ptt_over_relay_floor_media_preemption_and_privacy() -> None:
    handled: list[tuple[str, int, str | bytes]] = []

    async def scenario() -> None:
        relay = await start_relay(SECRET, record=lambda d, c, m: handled.append((d, c, m)),
                                  config=fl.FloorConfig(revoke_grace_ms=100))
        key = new_media_key("tg", 1, ("a", "b", "chief", "late"), os.urandom)
        prios = {"a": 1, "b": 1, "chief": 9, "late": 1}
        clients = {u: PttClient(relay.url, relay.ticket("tg", u, prios[u]), key, u) for u in ("a", "b", "chief")}
        try:
            for c in clients.values():
                await c.connect()
            a, b, chief = clients["a"], clients["b"], clients["chief"]
            await a.request_floor()
            assert (await a.expect("floor_granted"))["talker"] == "a"
            taken = await b.expect("floor_taken")
            assert taken["talker"] == "a"  # listeners see who talks
            await b.request_floor()
            assert (await b.expect("floor_queued"))["position"] == 1
            speech = tone(0.6)
            await a.talk(speech, pace=0.25)
            # b is not the talker: its media is dropped by the relay
            await b.send_frame(FrameSealer(key, "b").seal(b"x" * 60))
            # late joiner learns the current talk-burst
            late = PttClient(relay.url, relay.ticket("tg", "late", 1), key, "late")
            await late.connect()
            assert late.log[-1]["type"] == "floor_status" and late.log[-1]["talker"] == "a"
            await late.close()
            await a.release_floor()
            assert (await b.expect("floor_granted"))["talker"] == "b"
            # emergency pre-emption: b is revoked, chief gets the floor after the grace period
            await chief.request_floor(emergency=True)
            revoke = await b.expect("floor_revoke")
            assert revoke["cause"] == "preempted"
            granted = await chief.expect("floor_granted")
            assert granted["emergency"] is True
            assert (await a.expect("floor_taken"))["talker"] == "b"
            assert (await a.expect("floor_taken"))["talker"] == "chief"
            await chief.talk(tone(0.3), pace=0)
            await chief.release_floor()
            await a.expect("floor_idle")
            for who in ("b", "chief"):
                [burst] = clients[who].bursts[:1]
                assert burst.talker == "a"
                assert {len(p) for p in burst.packets} == {60}
                assert codec.similarity(speech, burst.pcm()) > 0.8
            assert clients["a"].bursts[-1].talker == "chief"
            assert relay.relay.core.stats.dropped_not_talker == 1
            # a talker who drops: its connection closes, the floor frees for the queue
            await a.request_floor()
            await a.expect("floor_granted")
            await b.request_floor()
            await b.expect("floor_queued")
            await a.close()
            assert (await b.expect("floor_granted"))["talker"] == "b"
        finally:
            for c in clients.values():
                await c.close()
            await relay.stop()

    run(scenario())
    out = [m for d, _, m in handled if d == "out"]
    inbound = [m for d, _, m in handled if d == "in"]
    # no network address of any peer is ever sent to a client
    for m in out:
        raw = m if isinstance(m, bytes) else m.encode()
        assert not ADDRESS.search(raw), m
    for m in out:
        if isinstance(m, str):
            assert set(json.loads(m)) <= {"v", "type", "group_id", "user", "mode", "talker", "burst", "position",
                                          "cause", "emergency", "code", "message"}
    # the relay handled media, and none of it decodes to the audio that was sent
    media = [m for m in inbound if isinstance(m, bytes)]
    assert len(media) > 30
    for strip in (0, HEADER_LEN):
        dec = codec.OpusDecoder()
        heard = np.concatenate([dec.decode(m[strip:]) for m in media[:30]])
        assert codec.similarity(tone(0.6), heard) < 0.2
    plain = codec.encode_pcm(tone(0.6))
    assert not any(p in m for p in plain[5:25] for m in media)


def test_full_duplex_call_through_relay_with_e2e_key_from_ring() -> None:
    from dunpai.comms.calls import signalling as sg
    from dunpai.comms.errors import CommsError, Conflict
    from dunpai.comms.media.sframe import MediaKey

    handled: list[tuple[str, int, str | bytes]] = []

    async def scenario() -> None:
        relay = await start_relay(SECRET, record=lambda d, c, m: handled.append((d, c, m)))
        # signalling (would travel over Olm): the ring carries the call's media key
        key = new_media_key("call-7", 1, ("alice", "bob"), os.urandom)
        ring = sg.place_call(sg.Phone("alice"), "call-7", "bob", 0, key=key.to_content())
        incoming = sg.receive(sg.Phone("bob"), "alice", ring.send[0].message, 1)
        assert incoming.phone.call is not None and incoming.phone.call.key is not None
        bob_key = MediaKey.from_content(incoming.phone.call.key)
        alice = PttClient(relay.url, relay.ticket("call-7", "alice", 1, mode="call"), key, "alice")
        bob = PttClient(relay.url, relay.ticket("call-7", "bob", 1, mode="call"), bob_key, "bob")
        try:
            assert (await alice.connect())["mode"] == "call"
            await bob.connect()
            # a talk-group ticket for the same id is refused; floor control does not exist in a call
            with pytest.raises(Conflict):
                relay.relay.core.hello(999, relay.ticket("call-7", "carol", 1), 0)
            await alice.request_floor()
            with pytest.raises(CommsError, match="no floor control"):
                await alice.expect("floor_granted", timeout=2)
            said_a, said_b = tone(0.6), tone(0.5)[::-1].copy()
            await asyncio.gather(alice.talk(said_a, pace=0.25), bob.talk(said_b, pace=0.25))
            await asyncio.sleep(0.2)
            assert [b.talker for b in bob.bursts] == ["alice"] and [b.talker for b in alice.bursts] == ["bob"]
            assert codec.similarity(said_a, bob.bursts[0].pcm()) > 0.8
            assert codec.similarity(said_b, alice.bursts[0].pcm()) > 0.8
        finally:
            await alice.close()
            await bob.close()
            await relay.stop()

    run(scenario())
    assert not any(ADDRESS.search(m if isinstance(m, bytes) else m.encode()) for d, _, m in handled if d == "out")
