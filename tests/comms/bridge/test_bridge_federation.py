"""The private/public bridge on loopback: mutual TLS with pinned certificates, policy, end-to-end
messages and files across deployments, refusals, a metadata-only crossing log, and no plaintext or
client address stored by the services or the bridge."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.exceptions import InvalidMessage

from dunpai.comms.bridge.audit import CrossingLog, open_crossing_log
from dunpai.comms.bridge.certs import client_context, new_cert, write_pair
from dunpai.comms.bridge.federated import FederatedClient
from dunpai.comms.bridge.listener import start_bridge_listener
from dunpai.comms.bridge.policy import parse_policy
from dunpai.comms.bridge.relay import Bridge
from dunpai.comms.client.connection import Connection
from dunpai.comms.client.state import LocalState
from dunpai.comms.errors import Forbidden
from dunpai.comms.keys_port import MemoryKeys
from dunpai.comms.server.launch import RunningService, attach_log, start_service
from dunpai.comms.server.service import ServiceConfig
from dunpai.comms.server.ws import CommsServer
from dunpai.keys import Argon2Params, open_keystore
from tests.comms.helpers import run

NOW = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
POLICY = {
    "version": 1,
    "deployments": ["private", "public"],
    "groups": {"ops": ["wang@private"]},
    "limits": {"max_message_bytes": 65536, "max_file_bytes": 300_000},
    "allow": [
        {"from": ["group:ops"], "to": ["li@public"], "services": ["message", "file"], "both_ways": True},
        {"from": ["zhao@private"], "to": ["li@public"], "services": ["message"]},
    ],
}
SECRET_TEXTS = ("会议改到三点 meet at three", "收到 roger", "denied hello", "zhao's file")
FILE_BYTES = b"dunpai-bridge-file " * 4000  # 76 kB


@dataclass
class Side:
    svc: RunningService
    bridge_server: CommsServer
    bridge_port: int
    cert: Path
    db: Path


@asynccontextmanager
async def two_deployments(tmp: Path, configs: dict[str, ServiceConfig] | None = None,
                          ) -> AsyncIterator[tuple[Side, Side, Path, Path]]:
    bridge_cert, bridge_key = tmp / "bridge.pem", tmp / "bridge.key"
    write_pair(new_cert("dunpai-bridge", NOW), bridge_cert, bridge_key)
    sides = []
    for name in ("private", "public"):
        cert, key = tmp / f"{name}.pem", tmp / f"{name}.key"
        write_pair(new_cert(f"dunpai-comms-{name}", NOW), cert, key)
        db = tmp / f"{name}.db"
        svc = await start_service(f"sqlite:///{db}", config=(configs or {}).get(name))
        server, port = await start_bridge_listener(svc, cert, key, [bridge_cert])
        sides.append(Side(svc, server, port, cert, db))
    try:
        yield sides[0], sides[1], bridge_cert, bridge_key
    finally:
        for s in sides:
            await s.bridge_server.stop()
            await s.svc.stop()


def crossing_log(tmp: Path) -> CrossingLog:
    """The bridge's crossing audit in a dunpai.audit chain (SQLite), signed by a test key store."""
    store = open_keystore("software", path=tmp / "bridge-keys.dks", passphrase="bridge test", create=True,
                          argon2=Argon2Params(1, 1024, 1))
    return open_crossing_log(f"sqlite:///{tmp / 'bridge-audit.db'}", store, checkpoint_every=8)


async def _user(url: str, name: str, invite: str, home: str | None = None) -> FederatedClient:
    client = FederatedClient(url, MemoryKeys(), LocalState.new(name, "d1"), home=home)
    await client.connect()
    await client.register(invite)
    return client


def test_private_and_public_users_message_and_send_files_through_the_bridge(tmp_path: Path) -> None:
    log_path = tmp_path / "service.log"
    handler = attach_log(log_path)
    crossing = crossing_log(tmp_path)

    async def scenario() -> None:
        async with two_deployments(tmp_path) as (priv, pub, bcert, bkey):
            bridge = Bridge(parse_policy(POLICY), crossing)
            for name, side in (("private", priv), ("public", pub)):
                ctx = client_context(side.cert, bcert, bkey)
                await bridge.join(name, f"wss://127.0.0.1:{side.bridge_port}", side.svc.service.create_invite(),
                                  ssl_context=ctx)
            wang = await _user(priv.svc.url, "wang", priv.svc.service.create_invite())
            zhao = await _user(priv.svc.url, "zhao", priv.svc.service.create_invite())
            eve = await _user(priv.svc.url, "eve", priv.svc.service.create_invite())
            li = await _user(pub.svc.url, "li", pub.svc.service.create_invite())
            try:
                await wang.send_remote_text("li@public", SECRET_TEXTS[0])
                got = await li.receive(10)
                assert (got.sender, got.text) == ("wang@private", SECRET_TEXTS[0])
                await li.send_remote_text("wang@private", SECRET_TEXTS[1])
                back = await wang.receive(10)
                assert (back.sender, back.text) == ("li@public", SECRET_TEXTS[1])

                await wang.send_remote_text("li@public", "second")
                assert (await li.receive(10)).text == "second"
                # one one-time key was claimed for the one new session; later look-ups claim none
                assert pub.svc.store.count_keys("li", "d1") == 49
                assert priv.svc.store.count_keys("wang", "d1") == 50
                await wang.send_remote_file("li@public", FILE_BYTES, "plan.txt", "text/plain")
                file_msg = await li.receive(10)
                assert file_msg.kind == "file" and file_msg.file is not None
                assert await li.fetch_file(file_msg.file) == FILE_BYTES

                with pytest.raises(Forbidden, match="does not allow eve@private to reach li@public"):
                    await eve.send_remote_text("li@public", SECRET_TEXTS[2])
                with pytest.raises(Forbidden, match="'file'"):
                    await zhao.send_remote_file("li@public", SECRET_TEXTS[3].encode() * 10, "z.txt", "text/plain")
                with pytest.raises(Forbidden, match="not connected"):
                    await wang.send_remote_text("li@elsewhere", "x")
                await zhao.send_remote_text("li@public", "zhao may message")
                assert (await li.receive(10)).sender == "zhao@private"
                with pytest.raises(Forbidden, match="over the bridge's limit"):
                    await wang.send_remote_file("li@public", b"\x01" * 400_000, "big.bin", "application/x")
            finally:
                for c in (wang, zhao, eve, li):
                    await c.close()
                await bridge.close()

    try:
        run(scenario(), timeout=60)
    finally:
        import logging

        logging.getLogger("dunpai.comms.server").removeHandler(handler)
        handler.close()
    assert crossing.verify().ok
    entries = crossing.entries()
    decisions = {(e["op"], e["from"], e["decision"]) for e in entries}
    assert ("send", "wang@private", "allowed") in decisions and ("send", "li@public", "allowed") in decisions
    assert ("query", "eve@private", "refused") in decisions and ("file", "zhao@private", "refused") in decisions
    stored = [log_path.read_bytes(), *(p.read_bytes() for p in tmp_path.glob("*.db*"))]  # incl. the audit db
    for blob in stored:
        for secret in (*SECRET_TEXTS, "dunpai-bridge-file"):
            assert secret.encode() not in blob
        assert b"127.0.0.1" not in blob  # no client address in the services' databases, logs or the bridge log


def test_bridge_listener_refuses_unpinned_certificates(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with two_deployments(tmp_path) as (priv, _pub, bcert, bkey):
            url = f"wss://127.0.0.1:{priv.bridge_port}"
            for ctx in (client_context(priv.cert),  # no client certificate
                        _other_client(tmp_path, priv.cert)):  # a certificate nobody pinned
                # TLS 1.3: the server rejects the client certificate after the client's handshake
                # finished, so the client sees the connection dropped before the WebSocket upgrade
                with pytest.raises((InvalidMessage, ssl.SSLError, ConnectionError)):
                    conn = await Connection.open(url, lambda _f: None, ctx, timeout_s=5)
                    await conn.close()
            # and the bridge itself refuses a service certificate it did not pin
            wrong = client_context(_pub.cert, bcert, bkey)
            with pytest.raises(ssl.SSLCertVerificationError):
                await Connection.open(url, lambda _f: None, wrong, timeout_s=5)
            ok = await Connection.open(url, lambda _f: None, client_context(priv.cert, bcert, bkey), timeout_s=5)
            await ok.close()

    run(scenario(), timeout=30)


def _other_client(tmp: Path, server_cert: Path) -> ssl.SSLContext:
    cert, key = tmp / "intruder.pem", tmp / "intruder.key"
    write_pair(new_cert("intruder", NOW), cert, key)
    return client_context(server_cert, cert, key)
