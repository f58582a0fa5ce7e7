"""`dunpai comms deploy` / `stop`: one command to a running private deployment; safe to repeat."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
import yaml

from dunpai.comms.client.client import CommsClient
from dunpai.comms.client.enrol import new_user
from dunpai.comms.client.state import LocalState
from dunpai.comms.deploy import process
from dunpai.comms.deploy.deployment_file import SETTINGS_FILE, load_deployment
from dunpai.comms.deploy.manage import deploy
from dunpai.comms.errors import DeployError, InviteInvalid
from dunpai.comms.keys_port import MemoryKeys
from dunpai.core.config import load_settings
from dunpai.core.errors import InvalidInput
from tests.kdf import CHEAP_KEYSTORE


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_deploy_is_idempotent_and_a_user_enrols(deploy_dir: Path) -> None:
    first = deploy(deploy_dir, port=0, invites=3, keystore=CHEAP_KEYSTORE)
    assert first.started and not first.admin_keys_on_host and len(first.invites) == 3
    assert first.url.startswith("ws://127.0.0.1:")
    assert oct((deploy_dir / "keys" / "passphrase").stat().st_mode & 0o777) == "0o600"
    again = deploy(deploy_dir, port=0, invites=3, keystore=CHEAP_KEYSTORE)
    assert (again.pid, again.url, again.invites) == (first.pid, first.url, first.invites)
    assert not again.started

    async def enrol() -> None:
        user = await new_user(first.url, "wang", first.invites[0])
        await user.close()
        li = CommsClient(first.url, MemoryKeys(), LocalState.new("li", "d1"))
        await li.connect()
        try:
            with pytest.raises(InviteInvalid):  # single use
                await li.register(first.invites[0])
        finally:
            await li.close()

    asyncio.run(enrol())
    assert process.stop(deploy_dir)
    assert not _pid_alive(first.pid)
    assert not (deploy_dir / "run" / "service.pid").exists()
    assert not process.stop(deploy_dir)
    restarted = deploy(deploy_dir, port=0, invites=3, keystore=CHEAP_KEYSTORE)  # after a stop: restarts, keeps data
    assert restarted.started and restarted.invites == first.invites


def test_service_keys_are_in_the_key_store(deploy_dir: Path) -> None:
    deploy(deploy_dir, port=0, invites=1, keystore=CHEAP_KEYSTORE)
    from dunpai.keys import open_keystore

    secret = (deploy_dir / "keys" / "passphrase").read_text().strip()
    store = open_keystore("software", path=deploy_dir / "keys" / "keystore.dpks", passphrase=secret)
    try:
        labels = {k.label for k in store.list()}
    finally:
        store.close()
    assert {"comms.deploy-audit", "comms.deploy-wrap"} <= labels


def test_settings_file_rejects_unknown_keys_and_bad_values(tmp_path: Path) -> None:
    for section, field in (({"name": "x", "db": "sqlite:///x.db", "colour": "red"}, "colour"),
                           ({"name": "x", "db": "mysql://x"}, "db"),
                           ({"name": "Bad Name", "db": "sqlite:///x.db"}, "name")):
        (tmp_path / SETTINGS_FILE).write_text(yaml.safe_dump({"comms": {"deployment": section}}))
        with pytest.raises(DeployError, match=f"comms.deployment.{field}"):
            load_deployment(tmp_path)
        with pytest.raises(InvalidInput) as exc:  # the deployment's process reads it as settings
            load_settings(tmp_path / SETTINGS_FILE)
        assert exc.value.problems[0].field == f"comms.deployment.{field}"


def test_stale_pid_file_is_not_trusted(deploy_dir: Path) -> None:
    (deploy_dir / "run").mkdir(parents=True)
    (deploy_dir / "run" / "service.pid").write_text(str(os.getpid()))  # alive, but not our daemon
    assert process.running(deploy_dir) is None
    assert not process.stop(deploy_dir)


def test_cli_deploy_and_stop(deploy_dir: Path) -> None:
    from typer.testing import CliRunner

    from dunpai.cli.comms import app

    runner = CliRunner()
    out = runner.invoke(app, ["deploy", "--dir", str(deploy_dir), "--port", "0", "--invites", "2"])
    assert out.exit_code == 0, out.output
    assert "started" in out.output and "enrols on their own device" in out.output
    ready = json.loads((deploy_dir / "run" / "ready.json").read_text())
    out = runner.invoke(app, ["stop", "--dir", str(deploy_dir)])
    assert out.exit_code == 0 and "stopped" in out.output
    assert process.running(deploy_dir) is None and ready["pid"] > 0


@pytest.mark.services
def test_deploy_on_postgresql(deploy_dir: Path) -> None:
    from tests.services import port_open, services_required

    if not port_open("127.0.0.1", 5432):
        if services_required():
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is required (DUNPAI_REQUIRE_SERVICES=1) but unreachable")
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432 (set DUNPAI_REQUIRE_SERVICES=1 to fail)")
    pg, schema = "postgresql://postgres@127.0.0.1:5432/test", f"comms_deploy_{os.getpid()}_{os.urandom(3).hex()}"
    try:
        first = deploy(deploy_dir, db=pg, schema=schema, port=0, invites=2, keystore=CHEAP_KEYSTORE)
        assert deploy(deploy_dir, port=0, keystore=CHEAP_KEYSTORE).pid == first.pid

        async def enrol() -> None:
            await (await new_user(first.url, "wang", first.invites[0])).close()

        asyncio.run(enrol())
    finally:
        process.stop(deploy_dir)
        from sqlalchemy import text

        from dunpai.core.db import make_engine

        engine = make_engine(pg)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def test_the_service_host_holds_only_service_keys(deploy_dir: Path, tmp_path: Path) -> None:
    """Issue 14, item 8: no user's keys on the service host. The administrator enrols from their own
    device with the admin invite; the deployment directory holds one key store, the service's."""
    from dunpai.keys import open_keystore

    first = deploy(deploy_dir, port=0, invites=1, keystore=CHEAP_KEYSTORE)
    try:
        stores = sorted(p.relative_to(deploy_dir).as_posix() for p in deploy_dir.rglob("*.dpks"))
        assert stores == ["keys/keystore.dpks"] and not (deploy_dir / "admin").exists()
        secret = (deploy_dir / "keys" / "passphrase").read_text().strip()
        store = open_keystore("software", path=deploy_dir / "keys" / "keystore.dpks", passphrase=secret)
        try:
            labels = {k.label for k in store.list()}
        finally:
            store.close()
        assert not any(label.startswith(("comms.user", "comms.state")) for label in labels), labels

        async def admin_enrols_elsewhere() -> None:
            invite = first.admin_invite.read_text().strip()
            admin = await new_user(first.url, "admin", invite, state_path=tmp_path / "admin-device.state")
            await admin.close()

        asyncio.run(admin_enrols_elsewhere())
        assert sorted(p.name for p in deploy_dir.rglob("*.dpks")) == ["keystore.dpks"]
    finally:
        process.stop(deploy_dir)
