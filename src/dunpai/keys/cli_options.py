"""Command-line options that name a key store, shared by ``dunpai keys`` and ``dunpai audit``.

Secrets (passphrase, PIN) come from the environment or an interactive prompt, never from a
command-line argument (which other local users could read in the process list).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from dunpai.keys.errors import KeyStoreError
from dunpai.keys.factory import BackendName, open_keystore
from dunpai.keys.softhsm import find_softhsm_module
from dunpai.keys.software_file import Argon2Params
from dunpai.keys.store import KeyStore

BackendOpt = Annotated[str, typer.Option("--backend", envvar="DUNPAI_KEYSTORE",
                                         help="software (encrypted file) or pkcs11 (token/HSM)")]
PathOpt = Annotated[Path, typer.Option("--path", envvar="DUNPAI_KEYSTORE_PATH",
                                       help="software store file")]
ModuleOpt = Annotated[str | None, typer.Option("--module", envvar="DUNPAI_PKCS11_MODULE",
                                               help="PKCS#11 module (default: SoftHSM2 if installed)")]
TokenOpt = Annotated[str | None, typer.Option("--token-label", envvar="DUNPAI_PKCS11_TOKEN",
                                              help="PKCS#11 token label")]
DEFAULT_PATH = Path(".dunpai/keys.dpks")


def _secret(env: str, prompt: str, confirm: bool = False) -> str:
    value = os.environ.get(env)
    if value:
        return value
    entered: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return entered


def backend_name(backend: str) -> BackendName:
    if backend == "software":
        return "software"
    if backend == "pkcs11":
        return "pkcs11"
    raise typer.BadParameter("--backend must be 'software' or 'pkcs11'")


def keystore_from_options(backend: str, path: Path, module: str | None, token_label: str | None,
                          *, create: bool = False, argon2: Argon2Params | None = None) -> KeyStore:
    name = backend_name(backend)
    try:
        if name == "software":
            new = create and not path.exists()
            passphrase = _secret("DUNPAI_KEYSTORE_PASSPHRASE", "Key store passphrase", confirm=new)
            return open_keystore("software", path=path, passphrase=passphrase, create=create, argon2=argon2)
        module = module or find_softhsm_module()
        if not module or not token_label:
            raise typer.BadParameter("pkcs11 needs --module (or SoftHSM2 installed) and --token-label")
        pin = _secret("DUNPAI_PKCS11_PIN", "Token PIN")
        return open_keystore("pkcs11", module_path=module, token_label=token_label, pin=pin)
    except KeyStoreError as exc:
        raise typer.BadParameter(exc.message) from None
