"""A deployment's settings file, ``DIR/dunpai.yaml``: the ``comms.deployment`` section of the one
settings tree (``docs/configuration.md``), written by ``dunpai comms deploy`` and read by the
deployment's service process. No secrets live there: they are files under ``DIR/keys`` and
``DIR/secrets`` (mode 0600)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dunpai.comms.errors import DeployError
from dunpai.core.config import DeploymentSettings

SETTINGS_FILE = "dunpai.yaml"
HEADER = "# Written by `dunpai comms deploy`; the comms.deployment section of docs/configuration.md.\n"


def load_deployment(directory: Path) -> DeploymentSettings | None:
    """What ``deploy`` wrote (the file alone; a process adds the environment through ``load_settings``)."""
    path = directory / SETTINGS_FILE
    if not path.exists():
        return None
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    section = data.get("comms", {}).get("deployment") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise DeployError(f"{SETTINGS_FILE}: no comms.deployment section")
    try:
        return DeploymentSettings.model_validate(section)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DeployError(f"{SETTINGS_FILE}: comms.deployment.{where}: {first['msg']}") from None


def save_deployment(directory: Path, cfg: DeploymentSettings) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = directory / (SETTINGS_FILE + ".tmp")
    body = {"comms": {"deployment": cfg.model_dump(exclude_defaults=False)}}
    tmp.write_text(HEADER + yaml.safe_dump(body, sort_keys=False, allow_unicode=True), encoding="utf-8")
    tmp.replace(directory / SETTINGS_FILE)
