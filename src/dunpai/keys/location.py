"""The one convention every command follows to find its key store and the store's secret.

A process has a directory (the data directory, a comms deployment's, the bridge's, a device's
home). Its software store is ``keystore.path``, by default ``DIR/keys/keystore.dpks``. The
passphrase is ``DUNPAI_KEYSTORE_PASSPHRASE`` (the ``keystore.passphrase`` setting) when set, else
the passphrase file (default ``keys/passphrase`` beside the store, mode 0600), else a prompt when
the caller can ask someone, else an error naming the variable. A service that creates its store
(``remember=True``) writes a random passphrase to the file first; a user's device never writes
its passphrase down. A PKCS#11 token needs ``DUNPAI_PKCS11_PIN`` or a prompt.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from dunpai.core.config import KeystoreSettings, secret
from dunpai.keys.errors import KeyStoreError
from dunpai.keys.factory import open_keystore
from dunpai.keys.softhsm import find_softhsm_module
from dunpai.keys.software_file import Argon2Params
from dunpai.keys.store import KeyStore

Prompt = Callable[[str, bool], str]
"""Asks a person for a secret: (what to ask, ask twice to confirm) → the answer."""


def argon2_params(cfg: KeystoreSettings) -> Argon2Params:
    kdf = cfg.kdf
    return Argon2Params(kdf.iterations, kdf.memory_mib * 1024, kdf.lanes)


def write_secret_file(path: Path, value: str) -> None:
    """Create ``path`` (mode 0600, never overwritten) holding ``value``."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")


def passphrase_for(cfg: KeystoreSettings, directory: Path, *, new: bool, remember: bool,
                   prompt: Prompt | None) -> str:
    """The software store's passphrase by the convention above."""
    given = secret(cfg.passphrase)
    if given:
        return given
    file = cfg.passphrase_path(directory)
    if file.is_file():
        return file.read_text(encoding="utf-8").strip()
    if new and remember:
        value = secrets.token_urlsafe(32)
        write_secret_file(file, value)
        return value
    if prompt is not None:
        return prompt("密钥库口令 / key store passphrase", new)
    raise KeyStoreError(f"the key store {cfg.store_path(directory)} needs its passphrase: set "
                        "DUNPAI_KEYSTORE_PASSPHRASE (or run the command on a terminal)")


def open_configured(cfg: KeystoreSettings, directory: Path, *, create: bool = False, remember: bool = False,
                    prompt: Prompt | None = None, clock: Callable[[], datetime] | None = None) -> KeyStore:
    """Open the store the settings name for a process whose directory is ``directory``; with
    ``create`` a missing software store is made (``remember``: with a random passphrase kept in the
    passphrase file)."""
    if cfg.backend == "pkcs11":
        module = cfg.module or find_softhsm_module()
        if not module or not cfg.token_label:
            raise KeyStoreError("a PKCS#11 key store needs keystore.module (DUNPAI_PKCS11_MODULE; SoftHSM2 is "
                                "found when installed) and keystore.token_label (DUNPAI_PKCS11_TOKEN)")
        pin = secret(cfg.pin)
        if pin is None and prompt is not None:
            pin = prompt("密钥芯片 PIN / token PIN", False)
        if pin is None:
            raise KeyStoreError("the PKCS#11 token needs its PIN: set DUNPAI_PKCS11_PIN (or run the command on "
                                "a terminal)")
        return open_keystore("pkcs11", module_path=module, token_label=cfg.token_label, pin=pin, clock=clock)
    path = cfg.store_path(directory)
    new = not path.exists()
    if new and not create:
        raise KeyStoreError(f"no key store at {path}")
    passphrase = passphrase_for(cfg, directory, new=new, remember=remember, prompt=prompt)
    if new:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return open_keystore("software", path=path, passphrase=passphrase, create=create, argon2=argon2_params(cfg),
                         clock=clock)
