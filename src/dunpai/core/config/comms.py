"""Settings of the P2SC secure-communication part: the service, a device, a private deployment
(written by ``dunpai comms deploy`` to ``DIR/dunpai.yaml``) and the private ⇄ public bridge."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator

from dunpai.core.config.base import Env, Section

_NAME = r"^[a-z0-9][a-z0-9-]{0,31}$"
_SCHEMA = r"^[a-z_][a-z0-9_]{0,62}$"
_DB = r"^(sqlite:///|postgresql)"


class CommsServiceSettings(Section):
    """``dunpai comms serve`` (a deployment made by ``deploy`` has its own section below)."""

    db: Annotated[str | None, Env("DUNPAI_COMMS_DB")] = Field(
        default=None, pattern=_DB, description="database URL (default: sqlite:///DATA_DIR/comms.db)")
    host: str = Field(default="127.0.0.1", description="listen address")
    port: int = Field(default=8765, ge=1, le=65535, description="listen port")
    db_schema: str | None = Field(default=None, pattern=_SCHEMA, description="PostgreSQL schema")
    relay_url: str | None = Field(default=None, description="media relay URL told to clients")
    relay_secret: Annotated[SecretStr | None, Env("DUNPAI_RELAY_SECRET")] = Field(
        default=None, description="media relay ticket secret, hex, 32+ bytes (environment only); "
        "when set the service issues relay tickets")
    relay_ticket_ttl_s: int = Field(default=600, ge=1, le=86_400, description="relay ticket lifetime (s)")

    @field_validator("relay_secret")
    @classmethod
    def _hex32(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                ok = len(bytes.fromhex(value.get_secret_value())) >= 32
            except ValueError:
                ok = False
            if not ok:
                raise ValueError("needs a hex secret of at least 32 bytes")
        return value


class CommsDeviceSettings(Section):
    """The command-line and terminal clients' device."""

    home: Annotated[Path | None, Env("DUNPAI_COMMS_HOME")] = Field(
        default=None, description="device directory (default: DATA_DIR/comms-device)")
    relay_ticket: Annotated[SecretStr | None, Env("DUNPAI_RELAY_TICKET")] = Field(
        default=None, description="relay ticket given by an operator (default: asked from the service)")


class ConstantRateSettings(Section):
    realtime: Annotated[bool, Env("DUNPAI_CBR_REALTIME")] = Field(
        default=True, description="constant-rate senders ask for real-time scheduling when allowed")


class DeploymentSettings(Section):
    """A private deployment (``DIR/dunpai.yaml``, written by ``dunpai comms deploy``). No secrets:
    those are files under ``DIR/secrets`` and ``DIR/keys`` (mode 0600)."""

    name: str = Field(pattern=_NAME, description="deployment name: lower-case letters, digits, '-'")
    db: str = Field(pattern=_DB, description="database URL")
    host: str = Field(default="127.0.0.1", description="listen address (loopback: ws://, else wss:// TLS 1.3)")
    port: int = Field(default=8765, ge=0, le=65535, description="service port (0: any free port)")
    admin: str = Field(default="admin", min_length=1, max_length=64, description="administrator user")
    bridge_port: int = Field(default=0, ge=0, le=65535, description="mutual-TLS listener for the bridge (0: none)")
    relay_port: int = Field(default=0, ge=0, le=65535, description="media relay port (0: any free port)")
    db_schema: str | None = Field(default=None, pattern=_SCHEMA, description="PostgreSQL schema")

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


class BridgeRelaySettings(Section):
    url: str = Field(description="the deployment's media relay as the bridge reaches it")


class MediaLinkSettings(Section):
    host: str = Field(min_length=1, description="where that deployment's members reach the bridge's media link")
    port: int = Field(ge=1, le=65535, description="its port")
    constant_rate: bool = Field(default=False, description="members reach it through a constant-rate tunnel")


class BridgeLinkSettings(Section):
    """One deployment the bridge joins. Paths are relative to the settings file."""

    url: str = Field(min_length=1, description="the deployment's bridge listener (wss://)")
    service_cert: Path = Field(description="the deployment's service certificate (pinned)")
    invite_file: Path = Field(description="invite for the bridge's account (first run only)")
    relay: BridgeRelaySettings | None = None
    media_link: MediaLinkSettings | None = None


class BridgeSettings(Section):
    """``dunpai comms bridge``. Paths are relative to the settings file; ``audit`` is a file there or
    a ``postgresql://`` URL."""

    policy: Path = Field(description="crossing policy (YAML)")
    cert: Path = Field(description="the bridge's certificate (pinned by both services)")
    key: Path = Field(description="the bridge's TLS private key")
    audit: str = Field(default="logs/audit.db", description="crossing audit chain: SQLite file or database URL")
    deployments: dict[str, BridgeLinkSettings] = Field(description="the deployments joined, by name")

    @model_validator(mode="after")
    def _two(self) -> BridgeSettings:
        if len(self.deployments) < 2:
            raise ValueError("a bridge joins at least two deployments")
        return self


class CommsQuotaSettings(Section):
    """What one user may ask of ``dunpai comms serve``: messages and file storage."""

    messages_per_minute: int = Field(default=300, ge=1, le=1_000_000,
                                     description="messages a user may send per minute (one send reaches many)")
    message_burst: int = Field(default=120, ge=1, le=1_000_000,
                               description="messages a user may send at once before the per-minute rate applies")
    max_file_mib: int = Field(default=100, ge=1, le=1024, description="largest file a user may upload (MiB)")
    user_storage_mib: int = Field(default=1024, ge=1, le=1_048_576,
                                  description="what one user's stored files may hold together (MiB)")


class CommsSettings(Section):
    service: CommsServiceSettings = CommsServiceSettings()
    quotas: CommsQuotaSettings = CommsQuotaSettings()
    device: CommsDeviceSettings = CommsDeviceSettings()
    constant_rate: ConstantRateSettings = ConstantRateSettings()
    deployment: DeploymentSettings | None = None
    bridge: BridgeSettings | None = None
