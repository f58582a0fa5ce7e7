"""Group names end to end from the command line too (issue 14, item 9): ``dunpai comms group create
NAME`` gives the service an opaque id; members learn the name inside Megolm."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from dunpai.comms.server.launch import start_service
from tests.comms.helpers import cli, in_background
from tests.kdf import cheap_kdf

NAME = "board-fraud-taskforce-2026"


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str, Path]]:
    monkeypatch.setenv("DUNPAI_KEYSTORE_PASSPHRASE", "correct horse battery staple")
    cheap_kdf(monkeypatch)
    path = tmp_path / "svc.db"

    async def boot() -> tuple[Any, ...]:
        return (await start_service(f"sqlite:///{path}"),)

    with in_background(boot) as (svc,):
        yield svc.url, f"sqlite:///{path}", path


def test_a_group_created_from_the_command_line_keeps_its_name_from_the_service(
        service: tuple[str, str, Path], tmp_path: Path) -> None:
    url, db, path = service
    codes = cli("invite", "--db", db, "--count", "2").split()
    alice, bob = str(tmp_path / "alice"), str(tmp_path / "bob")
    cli("register", "--server", url, "--user", "alice", "--invite", codes[0], "--home", alice)
    cli("register", "--server", url, "--user", "bob", "--invite", codes[1], "--home", bob)
    created = cli("group", "create", NAME, "--home", alice)
    assert NAME in created
    cli("group", "add", NAME, "bob", "--home", alice)  # by its name, on alice's device
    cli("send", "first meeting at nine", "--group", NAME, "--home", alice)

    got = json.loads(cli("receive", "--json", "--wait", "3", "--home", bob).strip().splitlines()[-1])
    text_msg = next(m for m in got if m["kind"] == "text")
    assert text_msg["group_name"] == NAME and text_msg["group"].startswith("g") and text_msg["group"] != NAME
    listed = json.loads(cli("group", "list", "--json", "--home", bob))
    assert [g["name"] for g in listed] == [NAME]
    cli("send", "noted", "--group", NAME, "--home", bob)  # bob names it too

    engine = create_engine(db)
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT group_id FROM comms_groups"))]
    engine.dispose()
    assert ids == [text_msg["group"]]
    for file in (path, path.with_name(path.name + "-wal")):
        if file.exists():
            assert NAME.encode() not in file.read_bytes(), file.name  # nowhere in the service's database
