"""Integration over real sockets on loopback: 1:1, multi-device, offline delivery, service restart."""

from __future__ import annotations

from dunpai.comms.client.enrol import new_user
from dunpai.comms.server.launch import start_service

from .helpers import drain, inject, nothing_more, queued_rows, run, wait_until


def test_one_to_one_and_multi_device(db: tuple[str, str | None]) -> None:
    url, schema = db

    async def scenario() -> None:
        svc = await start_service(url, schema=schema)
        try:
            alice = await new_user(svc.url, "alice", svc.service.create_invite())
            bob = await new_user(svc.url, "bob", svc.service.create_invite())
            bob2 = await new_user(svc.url, "bob", None, device_id="d2", keys=bob.keys)  # same user key
            await alice.send_text("bob", "hello bob 你好")
            for device in (bob, bob2):
                got = await device.receive(5)
                assert (got.sender, got.sender_device, got.text) == ("alice", "d1", "hello bob 你好")
            await bob.send_text("alice", "hi alice")
            assert (await alice.receive(5)).text == "hi alice"
            # the sender's other device gets a copy (multi-device fan-out)
            assert (await bob2.receive(5)).text == "hi alice"
            for c in (alice, bob, bob2):
                await c.close()
        finally:
            await svc.stop()

    run(scenario())


def test_offline_then_service_restart_nothing_lost_nothing_twice(db: tuple[str, str | None]) -> None:
    url, schema = db

    async def scenario() -> None:
        svc = await start_service(url, schema=schema)
        alice = await new_user(svc.url, "alice", svc.service.create_invite())
        bob = await new_user(svc.url, "bob", svc.service.create_invite())
        await bob.close()  # bob goes offline
        sent = [f"offline message {i}" for i in range(5)]
        for text in sent:
            await alice.send_text("bob", text)
        await alice.close()
        await svc.stop()  # the service restarts; the queue is in its database

        svc = await start_service(url, schema=schema)
        try:
            bob.url = svc.url
            await bob.connect()
            await bob.login()
            got = await drain(bob, 5)
            assert [m.text for m in got] == sent
            assert await nothing_more(bob)
            await wait_until(lambda: not queued_rows(svc, "bob"))  # all acknowledged

            # a lost acknowledgement: the service delivers the same messages again
            await bob.close()
            for i, m in enumerate(got):
                inject(svc, {"user_id": "bob", "device_id": "d1", "sender_user": "alice", "sender_device": "d1",
                             "msg_id": m.mid, "group_id": None, "payload": "olm1.1.AAAA", "sent_at": i,
                             "expires_at": 1e12})
            await bob.connect()
            await bob.login()
            assert await nothing_more(bob)
            assert bob.stats.duplicates == 5
            await bob.close()
        finally:
            await svc.stop()

    run(scenario())


def test_offline_queue_expires(sqlite_url: str) -> None:
    now = [1_000_000.0]

    async def scenario() -> None:
        svc = await start_service(sqlite_url, clock=lambda: now[0])
        try:
            alice = await new_user(svc.url, "alice", svc.service.create_invite(), clock=lambda: now[0])
            bob = await new_user(svc.url, "bob", svc.service.create_invite(), clock=lambda: now[0])
            await bob.close()
            await alice.send_text("bob", "too late")
            assert len(queued_rows(svc, "bob")) == 1
            now[0] += svc.service.config.queue_ttl_s + 1
            await bob.connect()
            await bob.login()
            assert await nothing_more(bob)
            assert queued_rows(svc, "bob") == []
            for c in (alice, bob):
                await c.close()
        finally:
            await svc.stop()

    run(scenario())
