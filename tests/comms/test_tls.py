"""The service over TLS 1.3 (wss://) on loopback, with a throw-away self-signed certificate."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dunpai.comms.client.client import CommsClient
from dunpai.comms.client.state import LocalState
from dunpai.comms.keys_port import MemoryKeys
from dunpai.comms.server.launch import start_service

from .helpers import run


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dunpai-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_messages_over_tls(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    async def scenario() -> None:
        svc = await start_service(f"sqlite:///{tmp_path / 'tls.db'}", ssl_context=server_ctx)
        assert svc.url.startswith("wss://")
        try:
            clients = []
            for user in ("alice", "bob"):
                c = CommsClient(svc.url, MemoryKeys(), LocalState.new(user, "d1"), ssl_context=client_ctx)
                await c.connect()
                await c.register(svc.service.create_invite())
                clients.append(c)
            alice, bob = clients
            await alice.send_text("bob", "over TLS")
            assert (await bob.receive(5)).text == "over TLS"
            assert alice.conn is not None
            assert alice.conn.ws.transport.get_extra_info("ssl_object").version() == "TLSv1.3"
            for c in clients:
                await c.close()
        finally:
            await svc.stop()

    run(scenario())
