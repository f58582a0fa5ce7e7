"""``dunpai comms deploy``: create (or complete) a deployment and start it. Safe to run again.

Steps, each skipped when already done: the settings file (``dunpai.yaml``); the key store with the
deployment's service keys (``keys/keystore.dpks``, its random passphrase in ``keys/passphrase``,
0600, unless ``DUNPAI_KEYSTORE_PASSPHRASE`` is set: the one convention of ``docs/configuration.md``);
the media relay's ticket secret (0600); the service's TLS certificate; database schema, the
administrator's invite and user invite codes; the background service with its media relay.

The service host holds service keys only. The administrator is a user like any other: their
signing and state keys are made on their own device or token, when they enrol there with the
admin invite (``dunpai comms register --invite …``); a key store beside the service, sealed by a
passphrase file beside it, would let anyone who can read the deployment directory act as them.
A deployment made by an older release that enrolled the administrator here is reported
(``admin_keys_on_host``) so that its ``admin/`` directory can be moved off the host.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dunpai.comms.bridge.certs import new_cert, write_pair
from dunpai.comms.deploy import process
from dunpai.comms.deploy.deployment_file import load_deployment, save_deployment
from dunpai.comms.deploy.paths import Paths
from dunpai.core.config import DeploymentSettings, KeystoreSettings
from dunpai.keys.location import open_configured, write_secret_file

SERVICE_KEYS = (("comms.deploy-audit", "ed25519"), ("comms.deploy-wrap", "aes-256"))


@dataclass(frozen=True)
class DeployResult:
    config: DeploymentSettings
    url: str
    pid: int
    started: bool
    relay_url: str
    admin_invite: Path
    admin_keys_on_host: bool
    invites: list[str]


def _secret_file(path: Path, make: Callable[[], str]) -> str:
    if not path.exists():
        write_secret_file(path, make())
    return path.read_text(encoding="utf-8").strip()


def _ensure_keystore(directory: Path, keystore: KeystoreSettings) -> None:
    from dunpai.keys.errors import KeyNotFound

    store = open_configured(keystore, directory, create=True, remember=True)
    try:
        for label, kind in SERVICE_KEYS:
            try:
                store.find(label)
            except KeyNotFound:
                store.generate(label, kind)  # type: ignore[arg-type]
    finally:
        store.close()


def _ensure_invites(cfg: DeploymentSettings, p: Paths, count: int, clock: Callable[[], float]) -> list[str]:
    from dunpai.comms.server.service import CommsService
    from dunpai.comms.server.store import SqlStore

    if cfg.db.startswith("sqlite:///"):
        Path(cfg.db[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    if p.invites.exists() and p.admin_invite.exists():
        return [line for line in p.invites.read_text(encoding="utf-8").split() if line]
    store = SqlStore.open(cfg.db, clock(), cfg.db_schema)  # creates or upgrades the schema
    try:
        service = CommsService(store, clock)
        _secret_file(p.admin_invite, service.create_invite)
        codes = [service.create_invite() for _ in range(count)]
    finally:
        store.close()
    _secret_file(p.invites, lambda: "\n".join(codes))
    return codes


def prepare(directory: Path, *, name: str = "private", db: str | None = None, host: str = "127.0.0.1",
            port: int = 8765, admin: str = "admin", invites: int = 10, bridge_port: int = 0,
            bridge_certs: tuple[Path, ...] = (), schema: str | None = None, relay_port: int = 0,
            keystore: KeystoreSettings | None = None,
            clock: Callable[[], float] = time.time) -> tuple[DeploymentSettings, list[str]]:
    """Everything but starting: settings file, key store, relay secret, TLS certificate, pinned
    bridge certificates, schema and invites. Each step is skipped when already done."""
    from pydantic import ValidationError

    from dunpai.comms.errors import DeployError

    directory = directory.resolve()
    p = Paths(directory)
    cfg = load_deployment(directory)
    if cfg is None:
        try:
            cfg = DeploymentSettings(name=name, db=db or f"sqlite:///{directory / 'comms.db'}", host=host, port=port,
                                     admin=admin, bridge_port=bridge_port, db_schema=schema, relay_port=relay_port)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise DeployError(f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}") from None
        save_deployment(directory, cfg)
    _ensure_keystore(directory, keystore or KeystoreSettings())
    _secret_file(p.relay_secret, lambda: secrets.token_bytes(32).hex())  # read by the daemon only
    if not p.tls_cert.exists():
        hosts = (cfg.host,) if cfg.host != "localhost" else ("localhost", "127.0.0.1")
        write_pair(new_cert(f"dunpai-comms-{cfg.name}", dt.datetime.fromtimestamp(clock(), dt.UTC), hosts=hosts),
                   p.tls_cert, p.tls_key)
    for cert in bridge_certs:
        p.bridge_clients.mkdir(parents=True, exist_ok=True)
        (p.bridge_clients / cert.name).write_bytes(cert.read_bytes())
    return cfg, _ensure_invites(cfg, p, invites, clock)


def deploy(directory: Path, *, name: str = "private", db: str | None = None, host: str = "127.0.0.1",
           port: int = 8765, admin: str = "admin", invites: int = 10, bridge_port: int = 0,
           bridge_certs: tuple[Path, ...] = (), schema: str | None = None, relay_port: int = 0,
           keystore: KeystoreSettings | None = None, clock: Callable[[], float] = time.time) -> DeployResult:
    """Prepare and start (unless running). ``keystore``: the key store settings (Argon2id cost of new
    stores, a passphrase from the environment). The administrator enrols from their own device with
    ``admin_invite``; nothing of theirs is made here."""
    directory = directory.resolve()
    keystore = keystore or KeystoreSettings()
    cfg, codes = prepare(directory, name=name, db=db, host=host, port=port, admin=admin, invites=invites,
                         bridge_port=bridge_port, bridge_certs=bridge_certs, schema=schema, relay_port=relay_port,
                         keystore=keystore, clock=clock)
    run, started = process.start(directory)
    p = Paths(directory)
    on_host = p.admin_home.exists() and any(p.admin_home.rglob("*.dpks"))
    return DeployResult(cfg, run.url, run.pid, started, run.relay_url, p.admin_invite, on_host, codes)
