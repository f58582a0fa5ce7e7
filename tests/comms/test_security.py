"""Adversarial cases over loopback: tampered and replayed ciphertext, replayed frames, revocation,
invites, signatures."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect

from dunpai.comms.client.enrol import new_user
from dunpai.comms.errors import AuthFailed, Conflict, DeviceRevoked, InviteInvalid, NotFound, UntrustedDevice
from dunpai.comms.keys_port import MemoryKeys
from dunpai.comms.protocol import frames as f
from dunpai.comms.protocol.canonical import b64e, revoke_bytes
from dunpai.comms.server.launch import start_service

from .helpers import drain, inject, nothing_more, queued_rows, run, wait_until


def _flip(payload: str) -> str:
    head, _, body = payload.rpartition(".")
    mid = len(body) // 2
    swapped = "A" if body[mid] != "A" else "B"
    return f"{head}.{body[:mid]}{swapped}{body[mid + 1:]}"


def test_tampered_and_replayed_ciphertext_rejected(sqlite_url: str) -> None:
    async def scenario() -> None:
        svc = await start_service(sqlite_url)
        try:
            alice = await new_user(svc.url, "alice", svc.service.create_invite())
            bob = await new_user(svc.url, "bob", svc.service.create_invite())
            await alice.group_create("g")
            await alice.group_add("g", "bob")
            await bob.close()
            await alice.send_text("bob", "one")
            await alice.group_send_text("g", "group one")
            original = queued_rows(svc, "bob")
            assert len(original) == 3  # room key, 1:1 message, group message
            await bob.connect()
            await bob.login()
            assert [m.text for m in await drain(bob, 2)] == ["one", "group one"]
            await wait_until(lambda: not queued_rows(svc, "bob"))
            await bob.close()

            olm_row, group_row = original[1], original[2]
            evil = [
                {**olm_row, "msg_id": "replayed-olm"},                 # replay under a fresh id
                {**group_row, "msg_id": "replayed-megolm"},            # Megolm replay
                {**olm_row, "msg_id": "tampered-olm", "payload": _flip(olm_row["payload"])},
                {**group_row, "msg_id": "tampered-megolm", "payload": _flip(group_row["payload"])},
                {**olm_row, "msg_id": "forged-sender", "sender_user": "carol"},
            ]
            for row in evil:
                inject(svc, row)
            await bob.connect()
            await bob.login()
            assert await nothing_more(bob, 0.5)
            await wait_until(lambda: bob.stats.rejected == len(evil))
            # ...and bob's sessions still work afterwards
            await alice.send_text("bob", "two")
            await alice.group_send_text("g", "group two")
            assert [m.text for m in await drain(bob, 2)] == ["two", "group two"]
            for c in (alice, bob):
                await c.close()
        finally:
            await svc.stop()

    run(scenario())


def test_replayed_send_frame_is_stored_once(sqlite_url: str) -> None:
    async def scenario() -> None:
        svc = await start_service(sqlite_url)
        try:
            alice = await new_user(svc.url, "alice", svc.service.create_invite())
            bob = await new_user(svc.url, "bob", svc.service.create_invite())
            await bob.close()
            devices = await alice.devices_of(["bob"])
            await alice._ensure_sessions(devices)
            payload = alice.state.olm.encrypt(devices[0], "m-1", {"type": "text", "body": "once"})
            conn = alice._c()
            for _ in range(3):  # the same frame (e.g. resent after a timeout, or replayed) three times
                result = await conn.request(f.Send, msg_id="m-1", messages=[
                    f.ToDevice(user="bob", device_id="d1", payload=payload)])
            assert result == {"queued": 0, "duplicates": 1, "refused": []}
            assert len(queued_rows(svc, "bob")) == 1
            await bob.connect()
            await bob.login()
            assert [m.text for m in await drain(bob, 1)] == ["once"]
            assert await nothing_more(bob)
            for c in (alice, bob):
                await c.close()
        finally:
            await svc.stop()

    run(scenario())


def test_device_revocation(sqlite_url: str) -> None:
    async def scenario() -> None:
        svc = await start_service(sqlite_url)
        try:
            alice = await new_user(svc.url, "alice", svc.service.create_invite())
            bob = await new_user(svc.url, "bob", svc.service.create_invite())
            lost = await new_user(svc.url, "bob", None, device_id="lost-phone", keys=bob.keys)
            with pytest.raises(NotFound):  # nobody else can revoke bob's devices
                await alice._c().request(f.DeviceRevoke, device_id="lost-phone",
                                         sig=b64e(alice.keys.sign(revoke_bytes("bob", "lost-phone"))))
            with pytest.raises(AuthFailed):  # only bob's signing key can, not a device key
                await bob._c().request(f.DeviceRevoke, device_id="lost-phone",
                                       sig=bob.state.olm.sign(revoke_bytes("bob", "lost-phone")))
            await bob.revoke_device("lost-phone")
            await wait_until(lambda: lost.revoked)
            # the revoked device cannot log in again
            await lost.close()
            await lost.connect()
            with pytest.raises(DeviceRevoked):
                await lost.login()
            await lost.close()
            # senders no longer encrypt to it, and the service refuses to queue for it
            assert [d.device_id for d in await alice.devices_of(["bob"])] == ["d1"]
            await alice.send_text("bob", "only the phone in hand")
            assert (await bob.receive(5)).text == "only the phone in hand"
            assert queued_rows(svc, "bob", "lost-phone") == []
            result = await alice._c().request(f.Send, msg_id="x1", messages=[
                f.ToDevice(user="bob", device_id="lost-phone", payload="olm1.0.AAAA")])
            assert result["refused"] == [{"user": "bob", "device_id": "lost-phone"}]
            for c in (alice, bob):
                await c.close()
        finally:
            await svc.stop()

    run(scenario())


def test_enrolment_needs_single_use_invite_and_signed_device(sqlite_url: str) -> None:
    async def scenario() -> None:
        svc = await start_service(sqlite_url)
        try:
            with pytest.raises(InviteInvalid):
                await new_user(svc.url, "mallory", None)
            code = svc.service.create_invite()
            alice = await new_user(svc.url, "alice", code)
            with pytest.raises(InviteInvalid):
                await new_user(svc.url, "mallory", code)  # single use
            # a second device of alice must be signed by alice's key, not just any key
            with pytest.raises(Conflict):
                await new_user(svc.url, "alice", None, device_id="d9", keys=MemoryKeys())

            class Impostor(MemoryKeys):  # claims alice's public key, signs with its own
                def public_key(self) -> bytes:
                    return alice.keys.public_key()

            with pytest.raises(UntrustedDevice):
                await new_user(svc.url, "alice", None, device_id="d9", keys=Impostor())
            # challenge-response: a login signature for another connection's nonce is refused
            async with connect(svc.url) as ws:
                json.loads(await ws.recv())
                from dunpai.comms.protocol.canonical import auth_bytes

                sig = alice.state.olm.sign(auth_bytes("stale-nonce", "alice", "d1", "login"))
                await ws.send(f.encode(f.Login(id=1, user="alice", device_id="d1", auth_sig=sig)))
                reply = json.loads(await ws.recv())
                assert (reply["type"], reply["code"]) == ("error", "auth_failed")
            await alice.close()
        finally:
            await svc.stop()

    run(scenario())


def test_safety_numbers_match_and_qr_verifies(sqlite_url: str) -> None:
    from dunpai.comms.protocol.safety import verify_qr_payload

    async def scenario() -> None:
        svc = await start_service(sqlite_url)
        try:
            alice = await new_user(svc.url, "alice", svc.service.create_invite())
            bob = await new_user(svc.url, "bob", svc.service.create_invite())
            a_num, a_qr = await alice.safety_number("bob")
            b_num, _ = await bob.safety_number("alice")
            assert a_num == b_num and len(a_num.replace(" ", "")) == 60
            verify_qr_payload(a_qr, "bob", bob.keys.public_key(), "alice", alice.keys.public_key())
            with pytest.raises(UntrustedDevice):
                verify_qr_payload(a_qr, "bob", MemoryKeys().public_key(), "alice", alice.keys.public_key())
            await bob.mark_verified("alice", a_num)
            assert bob.state.contacts["alice"]["verified"] is True
            with pytest.raises(UntrustedDevice):
                await bob.mark_verified("alice", "0" * 60)
            for c in (alice, bob):
                await c.close()
        finally:
            await svc.stop()

    run(scenario())
