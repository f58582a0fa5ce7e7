"""`dunpai comms` end to end: invite, register (software key store), verify, send, receive, groups,
files - against a service on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dunpai.cli.demos.comms import gps_of, photo_with_gps
from dunpai.comms.server.launch import start_service
from tests.comms.helpers import cli, in_background
from tests.kdf import cheap_kdf


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    monkeypatch.setenv("DUNPAI_KEYSTORE_PASSPHRASE", "correct horse battery staple")
    cheap_kdf(monkeypatch)
    db = f"sqlite:///{tmp_path / 'svc.db'}"

    async def boot() -> tuple[Any, ...]:
        return (await start_service(db),)

    with in_background(boot) as (svc,):
        yield svc.url, db



def test_cli_end_to_end(service: tuple[str, str], tmp_path: Path) -> None:
    url, db = service
    codes = cli("invite", "--db", db, "--count", "2").split()
    alice, bob = str(tmp_path / "alice"), str(tmp_path / "bob")
    cli("register", "--server", url, "--user", "alice", "--invite", codes[0], "--home", alice)
    cli("register", "--server", url, "--user", "bob", "--invite", codes[1], "--home", bob)
    shown = cli("verify", "bob", "--home", alice)
    number = shown.split("\n")[1].strip()
    assert len(number.replace(" ", "")) == 60
    assert "verified" in cli("verify", "alice", "--code", number, "--home", bob)

    cli("send", "你好 bob", "--to", "bob", "--home", alice)
    cli("group", "create", "ops", "--home", alice)
    cli("group", "add", "ops", "bob", "--home", alice)
    assert "bob" in cli("group", "info", "ops", "--home", alice)
    cli("send", "group hello", "--group", "ops", "--home", alice)
    photo = tmp_path / "p.jpg"
    photo.write_bytes(photo_with_gps())
    cli("send-file", str(photo), "--to", "bob", "--home", alice)

    got = json.loads(cli("receive", "--json", "--wait", "3", "--home", bob).strip().splitlines()[-1])
    assert [m["text"] for m in got if m["kind"] == "text"] == ["你好 bob", "group hello"]
    file_mid = next(m["mid"] for m in got if m["kind"] == "file")
    out = tmp_path / "fetched.jpg"
    cli("fetch-file", file_mid, "--out", str(out), "--home", bob)
    assert out.read_bytes().startswith(b"\xff\xd8") and gps_of(out.read_bytes()) == {}
    assert "no new messages" in cli("receive", "--wait", "0.3", "--home", bob)  # nothing shown twice
    # the local state is sealed by the key store: no plaintext on disk
    assert "你好".encode() not in (tmp_path / "bob" / "state.sealed").read_bytes()


def test_terminal_client_sends_and_shows(tmp_path: Path) -> None:
    from dunpai.comms.client.enrol import new_user
    from dunpai.comms.tui import CommsApp

    from .helpers import run

    async def scenario() -> None:
        svc = await start_service(f"sqlite:///{tmp_path / 'tui.db'}")
        try:
            alice = await new_user(svc.url, "alice", svc.service.create_invite())
            bob = await new_user(svc.url, "bob", svc.service.create_invite())
            app = CommsApp(bob, connect=False)
            async with app.run_test() as pilot:
                await alice.send_text("bob", "hello from alice")
                for _ in range(100):
                    await pilot.pause(0.02)
                    if any("hello from alice" in line for line in app.query_one("#log").lines):
                        break
                else:
                    pytest.fail("message not shown")
                await pilot.click("#input")
                await pilot.press(*"/to alice", "enter")
                await pilot.press(*"hi from the terminal", "enter")
                got = await alice.receive(5)
                assert (got.sender, got.text) == ("bob", "hi from the terminal")
            for c in (alice, bob):
                await c.close()
        finally:
            await svc.stop()

    run(scenario())


def test_register_without_a_passphrase_leaves_no_half_made_device(service: tuple[str, str], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from dunpai.cli.comms import app

    url, db = service
    monkeypatch.delenv("DUNPAI_KEYSTORE_PASSPHRASE")
    home = tmp_path / "carol"
    result = CliRunner().invoke(app, ["register", "--server", url, "--user", "carol", "--home", str(home)])
    assert result.exit_code == 2 and "DUNPAI_KEYSTORE_PASSPHRASE" in result.output  # no terminal: no prompt
    assert not (home / "device.json").exists() and not (home / "keys" / "keystore.dpks").exists()
    monkeypatch.setenv("DUNPAI_KEYSTORE_PASSPHRASE", "carol's passphrase")
    code = cli("invite", "--db", db).strip()
    cli("register", "--server", url, "--user", "carol", "--invite", code, "--home", str(home))
    assert (home / "device.json").is_file() and (home / "keys" / "keystore.dpks").is_file()
