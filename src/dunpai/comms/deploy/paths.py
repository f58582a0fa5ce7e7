"""Where a deployment keeps its files (all under one directory). Its key store is where the one
convention puts every store: ``keys/keystore.dpks`` (passphrase ``keys/passphrase``); its settings
are ``dunpai.yaml`` (``deployment_file``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def invites(self) -> Path:
        return self.secrets / "invites.txt"

    @property
    def admin_invite(self) -> Path:
        return self.secrets / "admin-invite.txt"

    @property
    def relay_secret(self) -> Path:
        return self.secrets / "relay.secret"

    @property
    def tls_cert(self) -> Path:
        return self.root / "tls" / "service.pem"

    @property
    def tls_key(self) -> Path:
        return self.secrets / "service.key"

    @property
    def bridge_clients(self) -> Path:
        return self.root / "tls" / "bridge-clients"

    @property
    def admin_home(self) -> Path:
        return self.root / "admin"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def pid(self) -> Path:
        return self.run / "service.pid"

    @property
    def ready(self) -> Path:
        return self.run / "ready.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def service_log(self) -> Path:
        return self.logs / "service.log"

    @property
    def daemon_out(self) -> Path:
        return self.logs / "daemon.out"
