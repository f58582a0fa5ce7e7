"""``dunpai comms deploy``: create (or complete) a deployment and start it. Safe to run again.

Steps, each skipped when already done: configuration; key store passphrase (0600) and key store
with the deployment's service keys; the media relay's ticket secret (0600); the service's TLS
certificate; database schema, the administrator's invite and user invite codes; the background
service with its media relay; the administrator's device (enrolled with its invite, its device
directory under ``admin/``).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dunpai.comms.bridge.certs import new_cert, write_pair
from dunpai.comms.deploy import process
from dunpai.comms.deploy.config import DeploymentConfig, load_config, save_config
from dunpai.comms.deploy.paths import Paths

SERVICE_KEYS = (("comms.deploy-audit", "ed25519"), ("comms.deploy-wrap", "aes-256"))


@dataclass(frozen=True)
class DeployResult:
    config: DeploymentConfig
    url: str
    pid: int
    started: bool
    relay_url: str
    admin_enrolled_now: bool
    invites: list[str]


def _secret_file(path: Path, make: Callable[[], str]) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value


def passphrase(p: Paths) -> str:
    return os.environ.get("DUNPAI_KEYSTORE_PASSPHRASE") or _secret_file(p.passphrase,
                                                                          lambda: secrets.token_urlsafe(32))


def _argon2_params() -> object | None:
    from dunpai.keys import Argon2Params

    # Tests only: cheap Argon2id for throw-away stores. Real deployments keep the RFC 9106 defaults.
    return Argon2Params(1, 1024, 1) if os.environ.get("DUNPAI_TEST_CHEAP_KDF") == "1" else None


def _ensure_keystore(p: Paths, secret: str) -> None:
    from dunpai.keys import open_keystore
    from dunpai.keys.errors import KeyNotFound

    store = open_keystore("software", path=p.keystore, passphrase=secret, create=True,
                          argon2=_argon2_params())  # type: ignore[arg-type]
    try:
        for label, kind in SERVICE_KEYS:
            try:
                store.find(label)
            except KeyNotFound:
                store.generate(label, kind)  # type: ignore[arg-type]
    finally:
        store.close()


def _ensure_invites(cfg: DeploymentConfig, p: Paths, count: int, clock: Callable[[], float]) -> list[str]:
    from dunpai.comms.server.service import CommsService
    from dunpai.comms.server.store import SqlStore

    if cfg.db.startswith("sqlite:///"):
        Path(cfg.db[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    if p.invites.exists() and p.admin_invite.exists():
        return [line for line in p.invites.read_text(encoding="utf-8").split() if line]
    store = SqlStore.open(cfg.db, clock(), cfg.schema)  # creates or upgrades the schema
    try:
        service = CommsService(store, clock)
        _secret_file(p.admin_invite, service.create_invite)
        codes = [service.create_invite() for _ in range(count)]
    finally:
        store.close()
    _secret_file(p.invites, lambda: "\n".join(codes))
    return codes


async def _enrol_admin(cfg: DeploymentConfig, p: Paths, url: str, secret: str) -> bool:
    from dunpai.comms.client.client import CommsClient
    from dunpai.comms.client.home import STATE_FILE, DeviceConfig
    from dunpai.comms.client.home import save_config as save_device
    from dunpai.comms.client.state import LocalState
    from dunpai.comms.keys_port import from_key_store
    from dunpai.keys import open_keystore

    home = p.admin_home
    if (home / STATE_FILE).exists():
        return False
    save_device(home, DeviceConfig(url, cfg.admin, "admin-1"))
    store = open_keystore("software", path=home / "keys.dks", passphrase=secret, create=True,
                          argon2=_argon2_params())  # type: ignore[arg-type]
    keys = from_key_store(store)
    client = CommsClient(url, keys, LocalState.new(cfg.admin, "admin-1"), state_path=home / STATE_FILE)
    await client.connect()
    try:
        await client.register(p.admin_invite.read_text(encoding="utf-8").strip())
    finally:
        await client.close()
    return True


def prepare(directory: Path, *, name: str = "private", db: str | None = None, host: str = "127.0.0.1",
            port: int = 8765, admin: str = "admin", invites: int = 10, bridge_port: int = 0,
            bridge_certs: tuple[Path, ...] = (), schema: str | None = None, relay_port: int = 0,
            clock: Callable[[], float] = time.time) -> tuple[DeploymentConfig, list[str]]:
    """Everything but starting: configuration, key store, relay secret, TLS certificate, pinned
    bridge certificates, schema and invites. Each step is skipped when already done."""
    directory = directory.resolve()
    p = Paths(directory)
    cfg = load_config(directory)
    if cfg is None:
        cfg = DeploymentConfig(name=name, db=db or f"sqlite:///{directory / 'comms.db'}", host=host, port=port,
                               admin=admin, bridge_port=bridge_port, schema=schema, relay_port=relay_port)
        save_config(directory, cfg)
    secret = passphrase(p)
    _ensure_keystore(p, secret)
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
           clock: Callable[[], float] = time.time) -> DeployResult:
    """Prepare, start (unless running) and enrol the administrator (unless enrolled)."""
    import asyncio

    directory = directory.resolve()
    cfg, codes = prepare(directory, name=name, db=db, host=host, port=port, admin=admin, invites=invites,
                         bridge_port=bridge_port, bridge_certs=bridge_certs, schema=schema, relay_port=relay_port,
                         clock=clock)
    run, started = process.start(directory)
    enrolled = False
    if cfg.loopback:  # elsewhere the administrator enrols from their own machine, with the admin invite
        enrolled = asyncio.run(_enrol_admin(cfg, Paths(directory), run.url, passphrase(Paths(directory))))
    return DeployResult(cfg, run.url, run.pid, started, run.relay_url, enrolled, codes)
