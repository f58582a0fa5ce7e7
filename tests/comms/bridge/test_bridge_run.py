"""The bridge process's configuration and restart: a restarted bridge logs in with its sealed state."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import yaml

from dunpai.comms.bridge.run import bridge_config, run_bridge
from dunpai.core.config import load_settings
from dunpai.core.errors import InvalidInput
from tests.comms.bridge.test_bridge_federation import POLICY, two_deployments
from tests.comms.helpers import run
from tests.kdf import cheap_kdf


def _write_config(bdir: Path, ports: dict[str, int]) -> Path:
    (bdir / "policy.yaml").write_text(yaml.safe_dump(POLICY))
    cfg = bdir / "bridge.yaml"
    cfg.write_text(yaml.safe_dump({"version": 1, "comms": {"bridge": {
        "policy": "policy.yaml", "cert": "bridge.pem", "key": "bridge.key", "audit": "logs/audit.db",
        "deployments": {n: {"url": f"wss://127.0.0.1:{port}", "service_cert": f"{n}.pem",
                            "invite_file": f"{n}-invite.txt"} for n, port in ports.items()}}}}))
    return cfg


def test_bridge_restarts_with_its_sealed_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_kdf(monkeypatch)
    monkeypatch.delenv("DUNPAI_KEYSTORE_PASSPHRASE", raising=False)
    bdir = tmp_path / "b"
    bdir.mkdir()

    async def scenario() -> None:
        async with two_deployments(tmp_path) as (priv, pub, bcert, bkey):
            shutil.copy(bcert, bdir / "bridge.pem")
            shutil.copy(bkey, bdir / "bridge.key")
            for name, side in (("private", priv), ("public", pub)):
                shutil.copy(side.cert, bdir / f"{name}.pem")
                (bdir / f"{name}-invite.txt").write_text(side.svc.service.create_invite())
            cfg = bridge_config(load_settings(_write_config(bdir, {"private": priv.bridge_port,
                                                                    "public": pub.bridge_port})))
            for _ in range(2):  # the second run must log in: the invites are used up
                stop = asyncio.Event()
                task = asyncio.create_task(run_bridge(cfg, stop, bdir / "ready"))
                for _ in range(200):
                    if (bdir / "ready").exists() or task.done():
                        break
                    await asyncio.sleep(0.05)
                assert (bdir / "ready").exists(), task.exception() if task.done() else "not ready"
                (bdir / "ready").unlink()
                stop.set()
                await task
            assert oct((bdir / "keys" / "passphrase").stat().st_mode & 0o777) == "0o600"
            assert sorted(p.name for p in (bdir / "state").iterdir()) == ["private.sealed", "public.sealed"]

    (bdir / "state").mkdir()
    run(scenario(), timeout=60)


def test_bridge_config_is_checked(tmp_path: Path) -> None:
    path = _write_config(tmp_path, {"private": 1, "public": 2})
    data = yaml.safe_load(path.read_text())
    bridge = data["comms"]["bridge"]
    path.write_text(yaml.safe_dump({"comms": {"bridge": {**bridge, "extra": 1}}}))
    with pytest.raises(InvalidInput) as exc:
        load_settings(path)
    assert [p.field for p in exc.value.problems] == ["comms.bridge.extra"]
    path.write_text(yaml.safe_dump({"comms": {"bridge": {**bridge, "deployments": {
        "private": bridge["deployments"]["private"]}}}}))
    with pytest.raises(InvalidInput, match="invalid configuration") as exc:
        load_settings(path)
    assert "at least two" in exc.value.problems[0].problem
    cfg = bridge_config(load_settings(_write_config(tmp_path, {"private": 1, "public": 2})))
    assert cfg.root == tmp_path.resolve() and cfg.policy == tmp_path.resolve() / "policy.yaml"
