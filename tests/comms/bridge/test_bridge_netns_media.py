"""Push-to-talk across the bridge between network namespaces (the hosts of test_bridge_netns.py):
the private relay (floor server of spanning talk-group 'convoy') runs on the private host, the
bridge's media link - behind its constant-rate tunnel - on the bridge host, li on the public host.
wang@private talks on his relay; li@public, who can reach only the public service and the bridge,
hears him through the bridge; eve@private, not a member, is refused. A capture on the bridge's
interfaces holds none of the talker's Opus packets and none of the texts.

This module is also the role script: ``python -m tests.comms.bridge.test_bridge_netns_media ROLE ...``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from dunpai.comms.bridge.certs import client_context, new_cert, write_pair
from dunpai.comms.bridge.federated import FederatedClient
from dunpai.comms.client.state import LocalState
from dunpai.comms.deploy.manage import prepare
from dunpai.comms.errors import Forbidden, NotFound, UntrustedDevice
from dunpai.comms.keys_port import MemoryKeys
from dunpai.comms.location.cbr_tunnel import CbrTunnelClient
from dunpai.comms.media import codec
from dunpai.comms.media.key_exchange import receive_media_key
from dunpai.comms.media.ptt_client import PttClient
from dunpai.comms.media.sframe import new_media_key
from tests.comms.bridge.test_bridge_netns import (  # noqa: F401 - netns is a fixture
    BRIDGE_PUB_IP,
    PRIV_IP,
    PUB_IP,
    Procs,
    netns,
    start_bridge,
    start_services,
)
from tests.kdf import CHEAP_KEYSTORE

pytestmark = pytest.mark.slow
READY_TEXT = "车队就绪 li ready 4e1d"
RELAY_PORT, LINK_PORT = 8767, 8770


def tone(seconds: float = 1.2) -> codec.PCM:
    t = np.arange(int(codec.SAMPLE_RATE * seconds)) / codec.SAMPLE_RATE
    return (np.sin(2 * np.pi * 330 * t) * np.sin(2 * np.pi * 2 * t) * 10000).astype(np.int16)


# -- roles (each its own process, inside its namespace) ------------------------------------------
async def _client(address: str, url: str, cert: str, invite: str) -> FederatedClient:
    user, home = address.split("@")
    c = FederatedClient(url, MemoryKeys(), LocalState.new(user, "d1"), ssl_context=client_context(Path(cert)),
                        home=home)
    await c.connect()
    await c.register(invite)
    return c


async def _user_role(address: str, url: str, cert: str, invite: str, extra: str) -> dict[str, Any]:
    c = await _client(address, url, cert, invite)
    deadline = time.monotonic() + 60
    try:
        if address == "wang@private":  # talker, on the floor server's own relay
            while True:  # li must be enrolled before the media key is shared
                try:
                    await c.remote_devices("li@public", group="convoy")
                    break
                except (NotFound, UntrustedDevice):
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.3)
            key = new_media_key("convoy", 1, await c.span_roster("convoy"), os.urandom)
            await c.span_send_content("convoy", key.to_content())
            while True:  # li says when he listens
                m = await c.receive(60)
                if m.kind == "text" and m.text == READY_TEXT and m.sender == "li@public":
                    break
            # his deployment's relay and a ticket from his own service, through the bridge
            url, ticket = await c.media_ticket(group="convoy")
            assert url == extra, url
            p = PttClient(url, ticket, key, "wang@private")
            await p.connect()
            try:
                await p.request_floor()
                await p.expect("floor_granted")
                sent = await p.talk(tone(), pace=1.0)
                await p.release_floor()
                await asyncio.sleep(1.0)
            finally:
                await p.close()
            return {"sent_frames": sent}
        if address == "li@public":
            key = await receive_media_key(c, "convoy", timeout=60)
            admission = await c.media_admission(group="convoy")
            assert admission.cbr_key is not None
            tunnel = CbrTunnelClient(admission.url, admission.cbr_key)
            p = PttClient(await tunnel.start(), admission.ticket, key, "li@public")
            try:
                await p.connect()
                await c.span_send_text("convoy", READY_TEXT)
                await p.expect("floor_taken", timeout=60)
                await p.expect("floor_idle", timeout=60)
            finally:
                await p.close()
                await tunnel.stop()
            return {"bursts": [{"talker": b.talker, "similarity": codec.similarity(tone(), b.pcm())}
                               for b in p.bursts]}
        try:  # eve: not a member of the talk-group
            await c.media_admission(group="convoy")
        except Forbidden as exc:
            return {"refused": exc.message}
        return {"refused": None}
    finally:
        await c.close()


def main() -> None:
    address, url, cert, invite, out, extra = sys.argv[2:8]
    Path(out).write_text(json.dumps(asyncio.run(_user_role(address, url, cert, invite, extra))), encoding="utf-8")


# -- the test ------------------------------------------------------------------------------------
def test_ptt_across_the_bridge_between_namespaces(netns: dict[str, str], tmp_path: Path,  # noqa: F811
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    bdir = tmp_path / "bridge"
    (bdir / "tls").mkdir(parents=True)
    (bdir / "secrets").mkdir()
    write_pair(new_cert("dunpai-bridge", dt.datetime.now(dt.UTC)), bdir / "tls" / "bridge.pem",
               bdir / "secrets" / "bridge.key")
    deployments: dict[str, tuple[Path, list[str]]] = {}
    for name, host in (("private", PRIV_IP), ("public", PUB_IP)):
        d = tmp_path / name
        # each deployment runs its relay next to its service (the private one is the floor server)
        _, invites = prepare(d, name=name, host=host, port=8765, bridge_port=8766, invites=4,
                             bridge_certs=(bdir / "tls" / "bridge.pem",), relay_port=RELAY_PORT,
                             keystore=CHEAP_KEYSTORE)
        deployments[name] = (d, invites)
        shutil.copy(d / "tls" / "service.pem", bdir / "tls" / f"{name}.pem")
        (bdir / "secrets" / f"{name}-invite.txt").write_text(invites[0])
    (bdir / "policy.yaml").write_text(yaml.safe_dump({
        "version": 1, "deployments": ["private", "public"],
        "spanning_groups": {"convoy": {"members": ["wang@private", "li@public"], "services": ["message", "ptt"],
                                       "floor": "private"}}}))
    links: dict[str, dict[str, Any]] = {
        n: {"url": f"wss://{ip_}:8766", "service_cert": f"tls/{n}.pem", "invite_file": f"secrets/{n}-invite.txt"}
        for n, ip_ in (("private", PRIV_IP), ("public", PUB_IP))}
    links["public"]["media_link"] = {"host": BRIDGE_PUB_IP, "port": LINK_PORT, "constant_rate": True}
    (bdir / "bridge.yaml").write_text(yaml.safe_dump({"version": 1, "comms": {"bridge": {
        "policy": "policy.yaml", "cert": "tls/bridge.pem", "key": "secrets/bridge.key",
        "audit": "logs/audit.db", "deployments": links}}}))
    procs, capture = Procs([]), tmp_path / "bridge.pcapng"
    me = [sys.executable, "-m", "tests.comms.bridge.test_bridge_netns_media"]
    tshark = None
    try:
        start_services(procs, netns, deployments, tmp_path)
        tshark = start_bridge(procs, netns, bdir, capture, tmp_path)
        users = {}
        for address, key, idx, extra in (("li@public", "pub", 1, "-"),
                                          ("wang@private", "priv", 1, f"ws://{PRIV_IP}:{RELAY_PORT}"),
                                          ("eve@private", "priv", 2, "-")):
            dep = address.split("@")[1]
            d, invites = deployments[dep]
            host = PUB_IP if dep == "public" else PRIV_IP
            users[address] = procs.start(netns[key], [
                *me, "user", address, f"wss://{host}:8765", str(d / "tls" / "service.pem"), invites[idx],
                str(tmp_path / f"{address}.json"), extra], tmp_path / f"{address}.out")
        for address, proc in users.items():
            assert proc.wait(120) == 0, (tmp_path / f"{address}.out").read_text()
        result = {a: json.loads((tmp_path / f"{a}.json").read_text()) for a in users}
        if tshark is not None:
            time.sleep(1.0)
            tshark.send_signal(signal.SIGINT)
            tshark.wait(15)
    finally:
        procs.stop_all()

    [burst] = result["li@public"]["bursts"]
    assert burst["talker"] == "wang@private" and burst["similarity"] > 0.8
    assert result["wang@private"]["sent_frames"] >= 55
    assert "eve@private is not a member of spanning group 'convoy'" in result["eve@private"]["refused"]
    if shutil.which("tshark"):
        data = capture.read_bytes()
        assert len(data) > 50_000  # the capture saw the bridge's traffic, media included
        assert READY_TEXT.encode() not in data
        plain = codec.encode_pcm(tone())
        assert not any(p in data for p in plain[5:45])  # no plain Opus packet of the talk-burst
    relay_secret = (deployments["private"][0] / "secrets" / "relay.secret").read_text().strip().encode()
    for path in (p for p in bdir.rglob("*") if p.is_file()):  # the bridge has no relay secret
        assert relay_secret not in path.read_bytes(), path.name
    for path in (p for p in bdir.rglob("*") if p.is_file() and p.is_relative_to(bdir / "logs")):
        for addr in (PRIV_IP, PUB_IP, BRIDGE_PUB_IP):
            assert addr.encode() not in path.read_bytes(), (path.name, addr)


if __name__ == "__main__":
    main()
