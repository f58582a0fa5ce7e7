"""The bridge process with its media link configured (bridge/run.py): a public member reaches the
private relay's talk-group through the bridge's constant-rate tunnel + media link, hears a private
talker, and the process's audit chain (dunpai.audit, SQLite) verifies and records the session."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from dunpai.comms.bridge.audit import open_crossing_log
from dunpai.comms.bridge.run import bridge_config, run_bridge
from dunpai.comms.errors import NotConfigured
from dunpai.comms.location.cbr_tunnel import CbrTunnelClient
from dunpai.comms.media import codec
from dunpai.comms.media.ptt_client import PttClient
from dunpai.comms.media.relay_launch import start_relay
from dunpai.comms.media.ticket_policy import RelayPolicy
from dunpai.comms.server.service import ServiceConfig
from dunpai.core.config import load_settings
from dunpai.keys import open_keystore
from tests.comms.bridge.test_bridge_federation import _user, two_deployments
from tests.comms.bridge.test_bridge_media import POLICY, RELAY_SECRET, share_media_key, tone
from tests.comms.helpers import run
from tests.kdf import cheap_kdf


def test_bridge_process_carries_ptt_through_its_constant_rate_media_link(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_kdf(monkeypatch)
    monkeypatch.delenv("DUNPAI_KEYSTORE_PASSPHRASE", raising=False)
    bdir = tmp_path / "b"
    (bdir / "state").mkdir(parents=True)
    said = tone(0.8)

    async def scenario() -> None:
        relay = await start_relay(RELAY_SECRET)
        # the private service issues the relay's tickets, also to the bridge on members' behalf; the
        # bridge's configuration names no relay secret
        private = ServiceConfig(relay=RelayPolicy(RELAY_SECRET, url=relay.url, delegates=("bridge",)))
        async with two_deployments(tmp_path, {"private": private}) as (priv, pub, bcert, bkey):
            shutil.copy(bcert, bdir / "bridge.pem")
            shutil.copy(bkey, bdir / "bridge.key")
            deployments: dict[str, dict[str, Any]] = {}
            for name, side in (("private", priv), ("public", pub)):
                shutil.copy(side.cert, bdir / f"{name}.pem")
                (bdir / f"{name}-invite.txt").write_text(side.svc.service.create_invite())
                deployments[name] = {"url": f"wss://127.0.0.1:{side.bridge_port}", "service_cert": f"{name}.pem",
                                     "invite_file": f"{name}-invite.txt"}
            deployments["public"]["media_link"] = {"host": "127.0.0.1", "port": _free_port(),
                                                   "constant_rate": True}
            (bdir / "policy.yaml").write_text(yaml.safe_dump(POLICY))
            (bdir / "bridge.yaml").write_text(yaml.safe_dump({"version": 1, "comms": {"bridge": {
                "policy": "policy.yaml", "cert": "bridge.pem", "key": "bridge.key",
                "audit": "logs/audit.db", "deployments": deployments}}}))
            stop = asyncio.Event()
            cfg = bridge_config(load_settings(bdir / "bridge.yaml"))
            task = asyncio.create_task(run_bridge(cfg, stop, bdir / "ready"))
            for _ in range(200):
                if (bdir / "ready").exists() or task.done():
                    break
                await asyncio.sleep(0.05)
            assert (bdir / "ready").exists(), task.exception() if task.done() else "not ready"
            wang = await _user(priv.svc.url, "wang", priv.svc.service.create_invite(), home="private")
            li = await _user(pub.svc.url, "li", pub.svc.service.create_invite(), home="public")
            tunnel: CbrTunnelClient | None = None
            try:
                key = await share_media_key(wang, "convoy", [li])
                with pytest.raises(NotConfigured, match="constant rate"):
                    await li.media_ticket(group="convoy")
                admission = await li.media_admission(group="convoy")
                assert admission.cbr_key is not None and len(admission.cbr_key) == 32
                tunnel = CbrTunnelClient(admission.url, admission.cbr_key)
                pl = PttClient(await tunnel.start(), admission.ticket, key, "li@public")
                wang_url, wang_ticket = await wang.media_ticket(group="convoy")
                assert wang_url == relay.url
                pw = PttClient(wang_url, wang_ticket, key, "wang@private")
                try:
                    await pw.connect()
                    assert (await pl.connect())["user"] == "li@public"
                    await pw.request_floor()
                    await pw.expect("floor_granted")
                    await pw.talk(said, pace=1.0)
                    await pw.release_floor()
                    await pl.expect("floor_idle")
                    [burst] = pl.bursts
                    assert burst.talker == "wang@private" and codec.similarity(said, burst.pcm()) > 0.8
                finally:
                    await pl.close()
                    await pw.close()
                await asyncio.sleep(0.3)
            finally:
                if tunnel is not None:
                    await tunnel.stop()
                await wang.close()
                await li.close()
                stop.set()
                await task
        await relay.stop()

    run(scenario(), timeout=90)
    store = open_keystore("software", path=bdir / "keys" / "keystore.dpks",
                          passphrase=(bdir / "keys" / "passphrase").read_text().strip())
    log = open_crossing_log(f"sqlite:///{bdir / 'logs' / 'audit.db'}", store)
    report = log.verify()
    assert report.ok and report.unsigned_tail == 0  # the bridge signed the head when it stopped
    ops = [(e["op"], e["from"], e["decision"]) for e in log.entries()]
    assert ("media_join", "li@public", "allowed") in ops and ("media_leave", "li@public", "allowed") in ops
    store.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
