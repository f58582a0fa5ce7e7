"""Settings of the risk part: online state, the bank named in customer notices, API keys, models,
and the external data sets that evaluations read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from dunpai.core.config.base import Env, Section
from dunpai.core.roles import Role


class ApiKeySettings(Section):
    """An API key, stored only as its SHA-256 hex digest."""

    name: str = Field(min_length=1, max_length=64, description="who or what uses the key")
    key_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 hex digest of the key")
    role: Role = Field(description="integrator, analyst, supervisor or admin")
    tenant: str = Field(default="default", min_length=1, max_length=64, description="tenant the key acts for")


class StateSettings(Section):
    """Where the keyed online state lives."""

    backend: Literal["memory", "redis", "database"] = Field(
        default="memory",
        description="memory (one process, snapshotted to the data directory), redis (one writer: states are not "
                    "locked) or database (several workers share the load: each entity's state is a row of the "
                    "decision database, locked by the decision that updates it; see docs/scale-out.md)")
    redis_url: Annotated[str, Env("DUNPAI_REDIS_URL")] = Field(
        default="redis://127.0.0.1:6379/0", description="Redis URL of the redis backend")
    redis_prefix: str = Field(default="dunpai:state:", description="key prefix in Redis")
    snapshot_every: int = Field(default=50_000, ge=1, description="events between state snapshots")


class BankSettings(Section):
    """Who customer notices come from: the bank's short name (SMS prefix) and its hotline."""

    name_zh: str = Field(default="盾牌银行", min_length=1, max_length=12, description="bank name in Chinese")
    name_en: str = Field(default="Dunpai Bank", min_length=1, max_length=30, description="bank name in English")
    hotline: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 -]{2,19}$",
                                description="customer hotline printed in notices")


class ModelSettings(Section):
    """Trained models that score live traffic."""

    registry: Annotated[Path | None, Env("DUNPAI_MODEL_REGISTRY")] = Field(
        default=None, description="model registry directory (default: DATA_DIR/models)")


class PolicySettings(Section):
    """How many customers the bank accepts to bother: intervention thresholds come from this budget."""

    max_interrupt_rate: float = Field(
        default=0.005, gt=0, lt=0.5,
        description="share of legitimate payments a step above allow may interrupt (rules and score together)")


class DatasetSettings(Section):
    """External data sets read by evaluations (never by live decisions)."""

    handbook_dir: Annotated[Path, Env("DUNPAI_HANDBOOK_DIR")] = Field(
        default=Path("../shared/data/handbook"), description="Fraud Detection Handbook parquet folder")
