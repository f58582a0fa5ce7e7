"""The private deployment, the public deployment and the bridge as three hosts in network
namespaces (veth pairs, addresses only inside them; created and removed here). The private side
can reach only the bridge. A private and a public user exchange a message and a file through the
bridge; a denied user and a denied service are refused; the bridge's files, the services' files
and a packet capture on the bridge hold no plaintext, and the services store no client address."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from dunpai.comms.bridge.certs import new_cert, write_pair
from dunpai.comms.deploy.manage import prepare
from tests.comms import netns_roles as roles
from tests.kdf import CHEAP_KDF_ENV, CHEAP_KEYSTORE
from tests.services import services_required

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]
PRIV_IP, BRIDGE_PRIV_IP, PUB_IP, BRIDGE_PUB_IP = "10.231.1.1", "10.231.1.2", "10.231.2.1", "10.231.2.2"


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed (scripts/system-deps.sh)"
    return None


@pytest.fixture
def netns() -> Iterator[dict[str, str]]:
    reason = _why_not()
    if reason is not None:
        if services_required():
            pytest.fail(f"{reason} (DUNPAI_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    sfx = os.urandom(3).hex()
    ns = {"priv": f"dp{sfx}v", "bridge": f"dp{sfx}b", "pub": f"dp{sfx}u",
          "priv_if": f"dv{sfx}a", "bpriv_if": f"dv{sfx}b", "pub_if": f"du{sfx}a", "bpub_if": f"du{sfx}b"}

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    try:
        for key in ("priv", "bridge", "pub"):
            ip("netns", "add", ns[key])
            ip("-n", ns[key], "link", "set", "lo", "up")
        for side, local_if, bridge_if, addr, baddr in (("priv", "priv_if", "bpriv_if", PRIV_IP, BRIDGE_PRIV_IP),
                                                       ("pub", "pub_if", "bpub_if", PUB_IP, BRIDGE_PUB_IP)):
            ip("link", "add", ns[local_if], "type", "veth", "peer", "name", ns[bridge_if])
            ip("link", "set", ns[local_if], "netns", ns[side])
            ip("link", "set", ns[bridge_if], "netns", ns["bridge"])
            ip("-n", ns[side], "addr", "add", f"{addr}/24", "dev", ns[local_if])
            ip("-n", ns["bridge"], "addr", "add", f"{baddr}/24", "dev", ns[bridge_if])
            ip("-n", ns[side], "link", "set", ns[local_if], "up")
            ip("-n", ns["bridge"], "link", "set", ns[bridge_if], "up")
        yield ns
    finally:
        for key in ("priv", "bridge", "pub"):
            subprocess.run(["ip", "netns", "del", ns[key]], capture_output=True, timeout=10, check=False)


@dataclass
class Procs:
    items: list[subprocess.Popen[bytes]]

    def start(self, ns: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=out, stderr=out,
                                    cwd=REPO, env={**os.environ, **CHEAP_KDF_ENV})
        self.items.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.items):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def _wait_for(path: Path, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{what} did not start (exit {proc.poll()})")
        time.sleep(0.1)


def start_services(procs: Procs, netns: dict[str, str], deployments: dict[str, tuple[Path, list[str]]],
                   out: Path) -> None:
    """Each deployment's daemon in its own namespace, until it is ready."""
    for name, key in (("private", "priv"), ("public", "pub")):
        d = deployments[name][0]
        proc = procs.start(netns[key], [sys.executable, "-m", "dunpai.cli.comms.daemon", "--dir", str(d)],
                           out / f"{name}.out")
        _wait_for(d / "run" / "ready.json", proc, f"{name} service")


def start_bridge(procs: Procs, netns: dict[str, str], bdir: Path, capture: Path,
                 out: Path) -> subprocess.Popen[bytes] | None:
    """``tshark`` on the bridge's two interfaces (when installed), then the bridge, until it is
    ready. Returns the capture process."""
    tshark = None
    if shutil.which("tshark"):
        tshark = procs.start(netns["bridge"], ["tshark", "-q", "-i", netns["bpriv_if"], "-i", netns["bpub_if"],
                                               "-w", str(capture)], out / "tshark.out")
        time.sleep(1.5)
    bridge = procs.start(netns["bridge"], [sys.executable, "-m", "dunpai.cli", "comms", "bridge", "--config",
                                           str(bdir / "bridge.yaml"), "--ready", str(bdir / "ready")],
                         out / "bridge.out")
    _wait_for(bdir / "ready", bridge, "bridge")
    return tshark


def _connect(ns: str, host: str, port: int) -> int:
    """errno of a TCP connect from inside ``ns`` (0: connected)."""
    code = (f"import socket;s=socket.socket();s.settimeout(2);"
            f"print(s.connect_ex(({host!r},{port})))")
    out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code],
                         capture_output=True, text=True, timeout=20, check=True)
    return int(out.stdout.strip())


def test_private_and_public_hosts_talk_only_through_the_bridge(netns: dict[str, str], tmp_path: Path) -> None:
    bdir = tmp_path / "bridge"
    (bdir / "tls").mkdir(parents=True)
    (bdir / "secrets").mkdir()
    write_pair(new_cert("dunpai-bridge", dt.datetime.now(dt.UTC)),
               bdir / "tls" / "bridge.pem", bdir / "secrets" / "bridge.key")
    deployments: dict[str, tuple[Path, list[str]]] = {}
    for name, host in (("private", PRIV_IP), ("public", PUB_IP)):
        d = tmp_path / name
        _, invites = prepare(d, name=name, host=host, port=8765, bridge_port=8766, invites=4,
                             bridge_certs=(bdir / "tls" / "bridge.pem",), keystore=CHEAP_KEYSTORE)
        deployments[name] = (d, invites)
        shutil.copy(d / "tls" / "service.pem", bdir / "tls" / f"{name}.pem")
        (bdir / "secrets" / f"{name}-invite.txt").write_text(invites[0])
    (bdir / "policy.yaml").write_text(yaml.safe_dump({
        "version": 1, "deployments": ["private", "public"],
        "allow": [{"from": ["wang@private"], "to": ["li@public"], "services": ["message", "file"], "both_ways": True},
                  {"from": ["zhao@private"], "to": ["li@public"], "services": ["message"]}]}))
    (bdir / "bridge.yaml").write_text(yaml.safe_dump({"version": 1, "comms": {"bridge": {
        "policy": "policy.yaml", "cert": "tls/bridge.pem", "key": "secrets/bridge.key",
        "audit": "logs/audit.db",
        "deployments": {n: {"url": f"wss://{ip_}:8766", "service_cert": f"tls/{n}.pem",
                            "invite_file": f"secrets/{n}-invite.txt"}
                        for n, ip_ in (("private", PRIV_IP), ("public", PUB_IP))}}}}))
    procs, capture = Procs([]), tmp_path / "bridge.pcapng"
    try:
        start_services(procs, netns, deployments, tmp_path)
        # separation: the private host reaches the bridge, never the public host
        assert _connect(netns["priv"], BRIDGE_PRIV_IP, 9) == errno.ECONNREFUSED  # the bridge host answers
        assert _connect(netns["priv"], PUB_IP, 8765) == errno.ENETUNREACH  # no route to the public side
        assert _connect(netns["pub"], PRIV_IP, 8765) == errno.ENETUNREACH
        assert _connect(netns["bridge"], PRIV_IP, 8766) == 0 and _connect(netns["bridge"], PUB_IP, 8766) == 0
        tshark = start_bridge(procs, netns, bdir, capture, tmp_path)
        users = {}
        for user, key, dep, idx in (("li", "pub", "public", 1), ("wang", "priv", "private", 1),
                                    ("eve", "priv", "private", 2), ("zhao", "priv", "private", 3)):
            d, invites = deployments[dep]
            host = PUB_IP if dep == "public" else PRIV_IP
            users[user] = procs.start(netns[key], [
                sys.executable, "-m", "tests.comms.netns_roles", user, f"wss://{host}:8765",
                str(d / "tls" / "service.pem"), invites[idx], str(tmp_path / f"{user}.json")], tmp_path / f"{user}.out")
        for user, proc in users.items():
            assert proc.wait(90) == 0, (tmp_path / f"{user}.out").read_text()
        result = {u: json.loads((tmp_path / f"{u}.json").read_text()) for u in users}
        if tshark is not None:
            time.sleep(1.0)
            tshark.send_signal(signal.SIGINT)
            tshark.wait(15)
    finally:
        procs.stop_all()

    assert result["li"] == {"text": roles.TEXT_TO_PUBLIC, "from": "wang@private",
                            "file": hashlib.sha256(roles.FILE_BYTES).hexdigest()}
    assert result["wang"] == {"reply": roles.TEXT_TO_PRIVATE, "from": "li@public"}
    assert "does not allow eve@private to reach li@public" in result["eve"]["refused"]
    assert "'file'" in result["zhao"]["refused"]
    plaintexts = [t.encode() for t in (roles.TEXT_TO_PUBLIC, roles.TEXT_TO_PRIVATE, roles.DENIED_TEXT)]
    plaintexts.append(b"netns-file-plaintext")
    files = [p for p in (*bdir.rglob("*"), *tmp_path.joinpath("private").rglob("*"),
                         *tmp_path.joinpath("public").rglob("*")) if p.is_file()]
    if shutil.which("tshark"):
        files.append(capture)
        assert capture.stat().st_size > 10_000  # the capture did see the bridge's traffic
    for path in files:
        data = path.read_bytes()
        for secret in plaintexts:
            assert secret not in data, path.name
        if path.is_relative_to(tmp_path / "private") or path.is_relative_to(tmp_path / "public") or \
                path.is_relative_to(bdir / "logs"):
            for addr in (BRIDGE_PRIV_IP, BRIDGE_PUB_IP, PRIV_IP, PUB_IP):
                if path.name not in ("dunpai.yaml", "service.pem"):  # the service's own address
                    assert addr.encode() not in data, (path.name, addr)
