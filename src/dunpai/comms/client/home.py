"""A device's home directory for the command line and terminal clients.

    device.json     server URL, user, device id, which key store (no secrets)
    keys.dks        the software key store (Argon2id-sealed), unless a PKCS#11 token is used
    state.sealed    the device's local session state, sealed by the key store

Secrets come from the environment (``DUNPAI_KEYSTORE_PASSPHRASE``, ``DUNPAI_TOKEN_PIN``) or a prompt.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dunpai.comms.client.client import CommsClient
from dunpai.comms.client.state import LocalState, load_state
from dunpai.comms.errors import CommsError
from dunpai.comms.keys_port import DeviceKeys, from_key_store

DEVICE_FILE = "device.json"
STATE_FILE = "state.sealed"


@dataclass(frozen=True)
class DeviceConfig:
    server: str
    user: str
    device_id: str
    backend: str = "software"  # or "pkcs11"
    module_path: str | None = None
    token_label: str | None = None
    format: int = 1


def _secret(env: str, prompt: str) -> str:
    value = os.environ.get(env)
    if value:
        return value
    import getpass

    return getpass.getpass(prompt)


def open_keys(home: Path, cfg: DeviceConfig, create: bool = False) -> DeviceKeys:
    from dunpai.keys import open_keystore

    if cfg.backend == "pkcs11":
        store: Any = open_keystore("pkcs11", module_path=cfg.module_path, token_label=cfg.token_label,
                                   pin=_secret("DUNPAI_TOKEN_PIN", "密钥芯片 PIN / token PIN: "))
    else:
        from dunpai.keys import Argon2Params

        # Tests only: cheap Argon2id for a throw-away store. Real stores keep the RFC 9106 defaults.
        cheap = Argon2Params(1, 1024, 1) if os.environ.get("DUNPAI_TEST_CHEAP_KDF") == "1" else None
        store = open_keystore("software", path=home / "keys.dks", create=create, argon2=cheap,
                              passphrase=_secret("DUNPAI_KEYSTORE_PASSPHRASE", "密钥库口令 / key store passphrase: "))
    return from_key_store(store)


def save_config(home: Path, cfg: DeviceConfig) -> None:
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    (home / DEVICE_FILE).write_text(json.dumps(asdict(cfg), indent=2), encoding="utf-8")


def load_config(home: Path) -> DeviceConfig:
    path = home / DEVICE_FILE
    if not path.exists():
        raise CommsError(f"no device set up in {home}; run `dunpai comms register` first")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != 1:
        raise CommsError("unsupported device.json format")
    return DeviceConfig(**data)


def open_client(home: Path) -> CommsClient:
    cfg = load_config(home)
    keys = open_keys(home, cfg)
    state = load_state(home / STATE_FILE, keys)
    return CommsClient(cfg.server, keys, state, state_path=home / STATE_FILE)


def new_client(home: Path, cfg: DeviceConfig) -> CommsClient:
    if (home / STATE_FILE).exists():
        raise CommsError(f"{home} already holds a device; use another --home")
    save_config(home, cfg)
    keys = open_keys(home, cfg, create=True)
    return CommsClient(cfg.server, keys, LocalState.new(cfg.user, cfg.device_id), state_path=home / STATE_FILE)
