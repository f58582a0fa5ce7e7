"""Groups over loopback: roles, Megolm rotation on membership change, removed member locked out."""

from __future__ import annotations

import pytest

from dunpai.comms.client.enrol import new_user
from dunpai.comms.errors import CommsError, DecryptionFailed, Forbidden
from dunpai.comms.server.launch import start_service

from .helpers import drain, nothing_more, queued_rows, run


def test_group_messages_and_removed_member_locked_out(db: tuple[str, str | None]) -> None:
    url, schema = db

    async def scenario() -> None:
        svc = await start_service(url, schema=schema)
        try:
            inv = svc.service.create_invite
            alice, bob, carol = [await new_user(svc.url, u, inv()) for u in ("alice", "bob", "carol")]
            await alice.group_create("team")
            await alice.group_add("team", "bob", "admin")
            await alice.group_add("team", "carol")
            await alice.group_send_text("team", "hello team")
            for member in (bob, carol):
                got = await member.receive(5)
                assert (got.group_id, got.sender, got.text) == ("team", "alice", "hello team")
            first_session = alice.state.groups.outbound["team"].session.session_id

            # members cannot manage; an admin can remove a member
            with pytest.raises(Forbidden):
                await carol.group_remove("team", "bob")
            await bob.group_remove("team", "carol")
            info = await alice.group_info("team")
            assert [m["user"] for m in info["members"]] == ["alice", "bob"]

            await bob.close()  # keep bob's copy in the queue so we can hand it to carol
            await alice.group_send_text("team", "after carol left")
            assert alice.state.groups.outbound["team"].session.session_id != first_session  # rotated
            assert await nothing_more(carol)  # the service no longer forwards to carol
            row = queued_rows(svc, "bob")[-1]
            with pytest.raises(DecryptionFailed):  # and even with the ciphertext, carol has no key
                carol.state.groups.decrypt("team", "alice", "d1", row["payload"])
            await bob.connect()
            await bob.login()
            assert [m.text for m in await drain(bob, 1)] == ["after carol left"]
            with pytest.raises(CommsError):
                await carol.group_send_text("team", "let me back in")
            for c in (alice, bob, carol):
                await c.close()
        finally:
            await svc.stop()

    run(scenario())


def test_group_session_rotates_after_bounded_messages(sqlite_url: str) -> None:
    from dunpai.comms.protocol.megolm import RotationPolicy

    async def scenario() -> None:
        svc = await start_service(sqlite_url)
        try:
            policy = RotationPolicy(max_messages=3, max_age_s=3600)
            alice = await new_user(svc.url, "alice", svc.service.create_invite(), policy=policy)
            bob = await new_user(svc.url, "bob", svc.service.create_invite())
            await alice.group_create("g")
            await alice.group_add("g", "bob")
            sessions = set()
            for i in range(7):
                await alice.group_send_text("g", f"m{i}")
                sessions.add(alice.state.groups.outbound["g"].session.session_id)
            assert len(sessions) == 3
            assert [m.text for m in await drain(bob, 7)] == [f"m{i}" for i in range(7)]
            for c in (alice, bob):
                await c.close()
        finally:
            await svc.stop()

    run(scenario())
