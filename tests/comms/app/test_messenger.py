"""The app's messenger against a real service: messages sent from my other device appear in my
conversation with the other party, and a read on one device is a read on the other."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from dunpai.comms.app.messenger import Messenger
from dunpai.comms.app.sealed_log import HistoryStore
from dunpai.comms.calls.agent import CallAgent
from dunpai.comms.client.client import CommsClient
from dunpai.comms.client.enrol import new_user
from dunpai.comms.client.state import LocalState
from dunpai.comms.keys_port import MemoryKeys
from dunpai.comms.server.launch import start_service


async def _until(pred: object, what: str) -> None:
    for _ in range(250):
        if pred():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not reached: {what}")


def test_my_other_devices_messages_and_reads_appear(tmp_path: Path) -> None:
    async def scenario() -> None:
        svc = await start_service(f"sqlite:///{tmp_path / 's.db'}")
        seed = os.urandom(32)  # alice's user signing key, on both of her devices
        phone = await new_user(svc.url, "alice", svc.service.create_invite(), device_id="phone", keys=MemoryKeys(seed))
        bob = await new_user(svc.url, "bob", svc.service.create_invite())
        laptop = CommsClient(svc.url, MemoryKeys(seed), LocalState.new("alice", "laptop"))
        await laptop.connect()
        await laptop.register(None)  # a second device of the same user: vouched for by her key, no invite
        await laptop.close()
        m = Messenger(laptop, HistoryStore(tmp_path / "h", laptop.keys, "alice/laptop"))
        agent = CallAgent(laptop, on_other=m.on_received)
        m.load()
        await m.start()
        await agent.start()
        try:
            await _until(lambda: m.online, "laptop online")
            await phone.send_content("bob", {"type": "text", "body": "从手机发的", "to": "bob"})
            await _until(lambda: "u:bob" in m.state.convs, "conversation with bob on the laptop")
            view = m.state.messages("u:bob")[-1]
            assert (view["text"], view["out"], view["sender"], view["mark"]) == ("从手机发的", True, "alice", "sent")
            mid = await bob.send_text("alice", "回复")
            await _until(lambda: m.state.conversations()[0]["unread"] == 1, "bob's reply unread on the laptop")
            # alice reads it on her phone: the phone's read receipt (to bob, and to her own devices)
            await phone.send_content("bob", {"type": "receipt", "v": 1, "what": "read", "mids": [mid]})
            await _until(lambda: m.state.conversations()[0]["unread"] == 0, "read on the phone, read here")
        finally:
            await agent.stop()
            await m.stop()
            for c in (phone, bob, laptop):
                await c.close()
            await svc.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))
