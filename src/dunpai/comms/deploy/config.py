"""A deployment's configuration (``deployment.json``): typed, validated once, frozen.

Unknown keys are errors naming the key. No secrets live here: the key store passphrase is in
``secrets/keystore.pass`` (mode 0600) unless ``DUNPAI_KEYSTORE_PASSPHRASE`` is set, the media
relay's ticket secret in ``secrets/relay.secret`` (0600).
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from dunpai.comms.errors import CommsError

CONFIG_FILE = "deployment.json"
FORMAT = 1
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


class DeployError(CommsError):
    code = "deploy_error"


@dataclass(frozen=True)
class DeploymentConfig:
    name: str
    db: str
    host: str = "127.0.0.1"
    port: int = 8765
    admin: str = "admin"
    bridge_port: int = 0  # 0: no bridge listener; else mutual-TLS listener for the bridge only
    relay_port: int = 0  # the media relay's port (0: any free port; the service tells members the URL)
    schema: str | None = None  # PostgreSQL schema (default: the database's default)
    format: int = FORMAT

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise DeployError(f"name: {self.name!r} must be lower-case letters, digits, '-' (≤ 32)")
        if not (self.db.startswith("sqlite:///") or self.db.startswith("postgresql")):
            raise DeployError("db: only sqlite:/// and postgresql:// URLs are supported")
        if not all(0 <= p < 65536 for p in (self.port, self.bridge_port, self.relay_port)):
            raise DeployError("port: out of range")
        if self.schema is not None and not re.match(r"^[a-z_][a-z0-9_]{0,62}$", self.schema):
            raise DeployError("schema: lower-case letters, digits and '_' only")
        if self.format != FORMAT:
            raise DeployError(f"format: unsupported deployment format {self.format}")

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"

    @property
    def url(self) -> str:
        # Loopback serves plain ws:// (nothing leaves the machine); anything else is TLS 1.3 only.
        return f"{'ws' if self.loopback else 'wss'}://{self.host}:{self.port}"


def parse_config(data: dict[str, Any]) -> DeploymentConfig:
    known = {f.name for f in fields(DeploymentConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise DeployError(f"{CONFIG_FILE}: unknown key {unknown[0]!r}")
    try:
        return DeploymentConfig(**data)
    except TypeError as exc:
        raise DeployError(f"{CONFIG_FILE}: {exc}") from exc


def load_config(directory: Path) -> DeploymentConfig | None:
    path = directory / CONFIG_FILE
    if not path.exists():
        return None
    return parse_config(json.loads(path.read_text(encoding="utf-8")))


def save_config(directory: Path, cfg: DeploymentConfig) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = directory / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(asdict(cfg), indent=2), encoding="utf-8")
    tmp.replace(directory / CONFIG_FILE)
