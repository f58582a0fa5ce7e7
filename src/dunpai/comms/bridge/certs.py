"""Self-signed certificates and pinned (mutual) TLS contexts for services and the bridge.

Each party (a deployment's service, the bridge) has its own self-signed Ed25519 certificate. Peers
trust exactly the certificates they were given (pinning) - no certificate authority, no system
trust store. Time is a parameter.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class CertPair:
    cert_pem: bytes
    key_pem: bytes

    def fingerprint(self) -> str:
        return x509.load_pem_x509_certificate(self.cert_pem).fingerprint(hashes.SHA256()).hex()


def new_cert(name: str, now: dt.datetime, *, hosts: tuple[str, ...] = ("127.0.0.1",), days: int = 825) -> CertPair:
    """A self-signed ECDSA P-256 certificate for ``name`` valid for ``hosts`` (IP addresses or DNS
    names). P-256 rather than Ed25519: every TLS 1.3 stack accepts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    alt: list[x509.GeneralName] = []
    for h in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            alt.append(x509.DNSName(h))
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return CertPair(cert.public_bytes(serialization.Encoding.PEM), key_pem)


def write_pair(pair: CertPair, cert_path: Path, key_path: Path) -> None:
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(pair.cert_pem)
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.chmod(0o600)
    key_path.write_bytes(pair.key_pem)


def server_context(cert: Path, key: Path, pinned_clients: list[Path]) -> ssl.SSLContext:
    """TLS 1.3 server context; when ``pinned_clients`` is given, a client certificate is required
    and only those exact (self-signed) certificates are accepted."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    if pinned_clients:
        ctx.verify_mode = ssl.CERT_REQUIRED
        for p in pinned_clients:
            ctx.load_verify_locations(cafile=str(p))
    return ctx


def client_context(pinned_server: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """TLS 1.3 client context that trusts only ``pinned_server`` and presents ``cert`` if given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(cafile=str(pinned_server))
    ctx.check_hostname = True
    if cert is not None and key is not None:
        ctx.load_cert_chain(cert, key)
    return ctx
