"""A device's home directory for the command line and terminal clients.

    device.json          server URL, user, device id, which key store (no secrets)
    keys/keystore.dpks   the software key store (Argon2id-sealed), unless a PKCS#11 token is used
    state.sealed         the device's local session state, sealed by the key store

The key store follows the one convention (``dunpai.keys.location``): the passphrase comes from
``DUNPAI_KEYSTORE_PASSPHRASE`` or a prompt (a user's device never writes it down), a token's PIN
from ``DUNPAI_PKCS11_PIN`` or a prompt. ``device.json`` is written only once the key store opened,
so a failed enrolment leaves no half-made device behind.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from dunpai.comms.client.client import CommsClient
from dunpai.comms.client.state import LocalState, load_state
from dunpai.comms.errors import CommsError
from dunpai.comms.keys_port import DeviceKeys, from_key_store
from dunpai.core.config import KeystoreSettings
from dunpai.keys.location import Prompt, open_configured

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


def device_keystore(cfg: DeviceConfig, keystore: KeystoreSettings) -> KeystoreSettings:
    """The settings' key store as this device uses it: the backend, module and token it enrolled with."""
    if cfg.backend == "pkcs11":
        return keystore.model_copy(update={"backend": "pkcs11", "module": cfg.module_path or keystore.module,
                                           "token_label": cfg.token_label or keystore.token_label})
    return keystore.model_copy(update={"backend": "software"})


def open_keys(home: Path, cfg: DeviceConfig, create: bool = False, *, keystore: KeystoreSettings | None = None,
              prompt: Prompt | None = None) -> DeviceKeys:
    """The device's keys in ``home`` (``keystore``: the settings' key store section)."""
    store = open_configured(device_keystore(cfg, keystore or KeystoreSettings()), home, create=create,
                            remember=False, prompt=prompt)
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


def open_client(home: Path, keystore: KeystoreSettings | None = None, prompt: Prompt | None = None) -> CommsClient:
    cfg = load_config(home)
    keys = open_keys(home, cfg, keystore=keystore, prompt=prompt)
    state = load_state(home / STATE_FILE, keys)
    return CommsClient(cfg.server, keys, state, state_path=home / STATE_FILE)


def new_client(home: Path, cfg: DeviceConfig, keystore: KeystoreSettings | None = None,
               prompt: Prompt | None = None) -> CommsClient:
    """A device to enrol: its key store first (created), then ``device.json``."""
    if (home / STATE_FILE).exists():
        raise CommsError(f"{home} already holds a device; use another --home")
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    keys = open_keys(home, cfg, create=True, keystore=keystore, prompt=prompt)
    save_config(home, cfg)
    return CommsClient(cfg.server, keys, LocalState.new(cfg.user, cfg.device_id), state_path=home / STATE_FILE)
