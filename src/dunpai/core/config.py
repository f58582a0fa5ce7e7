"""Typed configuration: validated once, frozen; unknown keys are errors that name the key's path.

Sources, later ones winning: built-in defaults, a YAML file (``DUNPAI_CONFIG`` or ``--config``),
then ``DUNPAI_*`` environment variables for the few settings deployments override most.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dunpai.core.errors import FieldProblem, InvalidInput

Role = Literal["integrator", "analyst", "supervisor", "admin"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiKeyConfig(_Frozen):
    """An API key, stored only as its SHA-256 hex digest."""

    name: str = Field(min_length=1, max_length=64)
    key_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    role: Role
    tenant: str = Field(default="default", min_length=1, max_length=64)


class StateConfig(_Frozen):
    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "dunpai:state:"
    snapshot_every: int = Field(default=50_000, ge=1)


class KeystoreConfig(_Frozen):
    """Where keys live. Secrets never come from here: the software store's passphrase comes from
    ``DUNPAI_KEYSTORE_PASSPHRASE`` and a token's PIN from ``DUNPAI_PKCS11_PIN``."""

    backend: Literal["software", "pkcs11"] = "software"
    path: Path | None = None
    module_path: str | None = None
    token_label: str | None = None
    gm: bool = False


class BankConfig(_Frozen):
    """Who customer notices come from: the bank's short name (SMS prefix) and its hotline."""

    name_zh: str = Field(default="盾牌银行", min_length=1, max_length=12)
    name_en: str = Field(default="Dunpai Bank", min_length=1, max_length=30)
    hotline: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 -]{2,19}$")


class Settings(_Frozen):
    data_dir: Path = Path(".dunpai")
    database_url: str | None = None
    state: StateConfig = StateConfig()
    keystore: KeystoreConfig = KeystoreConfig()
    bank: BankConfig = BankConfig()
    api_keys: tuple[ApiKeyConfig, ...] = ()
    default_currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'dunpai.db'}"


_ENV = {
    "DUNPAI_DATA_DIR": ("data_dir",),
    "DUNPAI_DATABASE_URL": ("database_url",),
    "DUNPAI_STATE_BACKEND": ("state", "backend"),
    "DUNPAI_REDIS_URL": ("state", "redis_url"),
}


def load_settings(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Read, validate and freeze the settings. Raises ``InvalidInput`` naming every bad key."""
    raw: dict[str, Any] = {}
    path = path or (Path(os.environ["DUNPAI_CONFIG"]) if os.environ.get("DUNPAI_CONFIG") else None)
    if path is not None:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise InvalidInput("configuration must be a mapping", problems=[FieldProblem("$", "not a mapping")])
        raw.update(loaded)
    for env, key_path in _ENV.items():
        if env in os.environ:
            node = raw
            for part in key_path[:-1]:
                node = node.setdefault(part, {})
            node[key_path[-1]] = os.environ[env]
    raw.update(overrides or {})
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = [FieldProblem(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
        raise InvalidInput("invalid configuration", problems=problems) from exc
