"""The terminal client's defects, fixed: typing works at start, a reply goes to the conversation at
hand without ``/to``, the safety number is not cut at the pane's edge, conversations come back
after a restart (sealed history), and Ctrl+Q closes the client on the app's own loop (no traceback)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Input, ListView

from dunpai.comms.app.sealed_log import HistoryStore
from dunpai.comms.client.client import CommsClient
from dunpai.comms.client.enrol import new_user
from dunpai.comms.server.launch import start_service
from dunpai.comms.tui import CommsApp


def _lines(app: CommsApp) -> list[str]:
    return [str(line) for line in app.query_one("#log").lines]


async def _until(pilot: object, pred: object, what: str) -> None:
    for _ in range(200):
        if pred():  # type: ignore[operator]
            return
        await pilot.pause(0.02)  # type: ignore[attr-defined]
    raise AssertionError(f"not reached: {what}")


def test_typing_replying_safety_number_and_history_after_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        svc = await start_service(f"sqlite:///{tmp_path / 'tui.db'}")
        alice = bob = None
        try:
            alice = await new_user(svc.url, "alice", svc.service.create_invite())
            bob = await new_user(svc.url, "bob", svc.service.create_invite())
            history = HistoryStore(tmp_path / "bob-history", bob.keys, "bob/d1")
            app = CommsApp(bob, connect=False, history=history)
            async with app.run_test(size=(80, 30)) as pilot:
                assert app.focused is app.query_one("#input", Input)      # typing goes to the message line
                await alice.send_text("bob", "hello from alice")
                await _until(pilot, lambda: any("hello from alice" in ln for ln in _lines(app)), "message shown")
                await pilot.press(*"hi back", "enter")                   # no /to: the conversation at hand
                got = await alice.receive(5)
                assert (got.sender, got.text) == ("bob", "hi back")
                await pilot.press(*"/verify alice", "enter")
                await _until(pilot, lambda: any("⇄ alice" in ln for ln in _lines(app)), "safety number")
                rows = [ln.strip() for ln in _lines(app)[-3:]]
                number, _ = await bob.safety_number("alice")
                assert " ".join(" ".join(r.split()) for r in rows) == number
                assert all(len(ln) < 80 - 4 for ln in _lines(app)[-3:])  # fits the pane
            app2 = CommsApp(bob, connect=False, history=HistoryStore(tmp_path / "bob-history", bob.keys, "bob/d1"))
            async with app2.run_test(size=(80, 30)) as pilot:
                await _until(pilot, lambda: any("hi back" in ln for ln in _lines(app2)), "history after restart")
                assert any("hello from alice" in ln for ln in _lines(app2))
                assert app2.conversations == [("user", "alice")] and app2.target == ("user", "alice")
                assert len(app2.query_one("#side", ListView).children) == 1
            assert b"hello from alice" not in b"".join(p.read_bytes() for p in (tmp_path / "bob-history").iterdir())
        finally:
            for c in (alice, bob):
                if c is not None:
                    await c.close()
            await svc.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_choosing_a_conversation_in_the_list_sends_there(tmp_path: Path) -> None:
    async def scenario() -> None:
        svc = await start_service(f"sqlite:///{tmp_path / 'tui.db'}")
        users: list[CommsClient] = []
        try:
            for name in ("alice", "bob", "carol"):
                users.append(await new_user(svc.url, name, svc.service.create_invite()))
            alice, bob, carol = users
            app = CommsApp(bob, connect=False)
            async with app.run_test(size=(100, 30)) as pilot:
                await alice.send_text("bob", "from alice")
                await _until(pilot, lambda: len(app.conversations) == 1, "alice listed")
                await carol.send_text("bob", "from carol")
                await _until(pilot, lambda: len(app.conversations) == 2, "carol listed")
                side = app.query_one("#side", ListView)
                side.focus()
                while side.index != 1:                                   # carol, chosen in the list
                    await pilot.press("down")
                await pilot.press("enter")
                assert app.target == ("user", "carol") and app.focused is app.query_one("#input", Input)
                await pilot.press(*"to carol", "enter")
                got = await carol.receive(5)
                assert (got.sender, got.text) == ("bob", "to carol")
        finally:
            for c in users:
                await c.close()
            await svc.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_ctrl_q_closes_the_client_on_the_apps_own_loop(tmp_path: Path) -> None:
    async def scenario() -> None:
        svc = await start_service(f"sqlite:///{tmp_path / 'tui.db'}")
        try:
            bob = await new_user(svc.url, "bob", svc.service.create_invite())
            await bob.close()
            app = CommsApp(bob)  # connects and logs in itself, as `dunpai comms tui` does
            async with app.run_test() as pilot:
                await _until(pilot, lambda: bob.conn is not None, "connected")
                await pilot.press("ctrl+q")
            assert bob.conn is None and app.return_code in (None, 0)
        finally:
            await svc.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))
