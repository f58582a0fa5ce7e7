"""Groups spanning deployments: Megolm group messages and a talk-burst reach members on both sides
of the bridge; the group key travels only over Olm between the members' devices; non-members are
refused; nothing the services or the bridge store holds the plaintexts."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from dunpai.comms.bridge.federated import FederatedClient
from dunpai.comms.client.client import Received
from dunpai.comms.errors import Forbidden
from dunpai.comms.media import codec
from dunpai.comms.media.ptt_client import PttClient
from tests.comms.bridge.test_bridge_media import bridged_world, share_media_key, tone
from tests.comms.helpers import nothing_more, run

MEMBERS = ("wang@private", "zhao@private", "li@public", "chen@public")
TEXTS = ("车队出发 convoy moving out", "收到，跟上 roger, following", "not a member")
FILE_BYTES = b"spanning-file-plaintext " * 3000


async def next_text(c: FederatedClient, kind: str = "text") -> Received:
    while True:
        m = await c.receive(10)
        if m.kind == kind:
            return m


def test_spanning_group_messages_and_talk_burst_reach_both_sides(tmp_path: Path) -> None:
    said = tone(0.8)

    async def scenario() -> None:
        async with bridged_world(tmp_path, (*MEMBERS, "eve@private")) as w:
            u = w.users
            wang, li, eve = u["wang@private"], u["li@public"], u["eve@private"]
            assert await wang.span_roster("convoy") == sorted(MEMBERS)
            # a message from the private side reaches the other private member and both public ones
            await wang.span_send_text("convoy", TEXTS[0])
            for who in ("zhao@private", "li@public", "chen@public"):
                got = await next_text(u[who])
                assert (got.sender, got.group_id, got.text) == ("wang@private", "convoy", TEXTS[0])
            # and one from the public side reaches members on both sides (chen: same side, via the bridge)
            await li.span_send_text("convoy", TEXTS[1])
            for who in ("wang@private", "zhao@private", "chen@public"):
                got = await next_text(u[who])
                assert (got.sender, got.group_id, got.text) == ("li@public", "convoy", TEXTS[1])
            # a second message reuses the Megolm session: no new room key is shared
            sessions_before = len(u["chen@public"].state.groups.inbound)
            await wang.span_send_text("convoy", "second")
            assert (await next_text(u["chen@public"])).text == "second"
            assert len(u["chen@public"].state.groups.inbound) == sessions_before
            # a file: the bridge copies the encrypted blob to the public deployment; the key goes over Megolm
            with pytest.raises(Forbidden, match="spanning group 'convoy' does not allow 'file'"):
                await wang.span_send_file("convoy", FILE_BYTES, "route.txt", "text/plain")
            await li.span_send_file("mixed", FILE_BYTES, "route.txt", "text/plain")
            for who in ("wang@private", "zhao@private"):
                got = await next_text(u[who], "file")
                assert got.sender == "li@public" and got.group_id == "mixed" and got.file is not None
                assert await u[who].fetch_file(got.file) == FILE_BYTES
            # non-members get neither the roster nor a way in
            with pytest.raises(Forbidden, match="eve@private is not a member of spanning group 'convoy'"):
                await eve.span_send_text("convoy", TEXTS[2])
            with pytest.raises(Forbidden, match="no spanning group 'nope'"):
                await wang.span_roster("nope")

            # a talk-burst: the media key goes to every member over Megolm through the bridge; li
            # (public) talks through the media link, private members listen on the floor relay,
            # chen (public) through the link - the talk-burst reaches both sides
            others = [u[a] for a in MEMBERS if a != "li@public"]
            key = await share_media_key(li, "convoy", others)
            listeners = {}
            for a in ("wang@private", "zhao@private"):  # their own relay, their service's ticket via the bridge
                url, ticket = await u[a].media_ticket(group="convoy")
                listeners[a] = PttClient(url, ticket, key, a)
            url, ticket = await u["chen@public"].media_ticket(group="convoy")
            listeners["chen@public"] = PttClient(url, ticket, key, "chen@public")
            url, ticket = await li.media_ticket(group="convoy")
            talker = PttClient(url, ticket, key, "li@public")
            try:
                for p in (*listeners.values(), talker):
                    await p.connect()
                await talker.request_floor()
                await talker.expect("floor_granted")
                await talker.talk(said, pace=0.25)
                await talker.release_floor()
                for p in listeners.values():
                    await p.expect("floor_idle")
                await asyncio.sleep(0.1)
                for who, p in listeners.items():
                    [burst] = p.bursts
                    assert burst.talker == "li@public", who
                    assert codec.similarity(said, burst.pcm()) > 0.8, who
            finally:
                for p in (*listeners.values(), talker):
                    await p.close()
            assert await nothing_more(eve)

    run(scenario(), timeout=120)
    # no plaintext (texts, the media key's secret is random) in the services' or the bridge's databases
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("*.db*"))
    assert len(stored) > 10_000
    for text in (*TEXTS, "second", "spanning-file-plaintext"):
        assert text.encode() not in stored
    assert not re.search(rb"127\.0\.0\.1|localhost", stored)


@pytest.mark.parametrize(("group", "error"), [
    ({"members": ["wang@private"], "services": ["ptt"], "floor": "private"}, r"services: 'ptt' and 'call' need"),
    ({"members": ["wang@elsewhere"], "services": ["message"], "floor": "private"}, r"members: 'wang@elsewhere'"),
    ({"members": ["wang@private"], "services": ["video"], "floor": "private"}, r"services: 'video' is not one of"),
    ({"members": ["wang@private"], "services": ["message"], "floor": "moon"}, r"convoy.floor: expected one of"),
    ({"members": ["wang@private"], "services": ["message"], "floor": "private", "priorities": {"li@public": 3}},
     r"priorities: 'li@public' is not a member"),
    ({"members": ["wang@private"], "services": ["message"], "floor": "private", "extra": 1},
     r"spanning_groups.convoy.extra: unknown key"),
])
def test_spanning_group_policy_is_checked(group: dict[str, object], error: str) -> None:
    from dunpai.comms.bridge.policy import PolicyError, parse_policy

    with pytest.raises(PolicyError, match=error):
        parse_policy({"version": 1, "deployments": ["private", "public"], "spanning_groups": {"convoy": group}})


def test_spanning_group_checks_name_their_reason() -> None:
    from dunpai.comms.bridge.policy import parse_policy
    from tests.comms.bridge.test_bridge_media import POLICY

    policy = parse_policy(POLICY)
    g = policy.check_group("convoy", "li@public", "ptt")
    assert g.floor == "private" and g.priority("wang@private") == 5 and g.priority("li@public") == 1
    with pytest.raises(Forbidden, match="zhao@private is not a member of spanning group 'chat'"):
        policy.check_group("chat", "li@public", "message", recipient="zhao@private")
    with pytest.raises(Forbidden, match="over the bridge's limit"):
        policy.check_group("convoy", "li@public", "message", size=10**6)
