"""Key custody settings: which key store, where, and how its secret is found.

One convention for every command (see ``dunpai.keys.location``): the store is ``keystore.path``,
by default ``keys/keystore.dpks`` under the process's directory (the data directory, a comms
deployment's or device's directory); its passphrase comes from ``DUNPAI_KEYSTORE_PASSPHRASE``,
else from ``keystore.passphrase_file`` (default ``keys/passphrase`` beside the store, mode 0600),
else a prompt on a terminal. A token's PIN comes from ``DUNPAI_PKCS11_PIN`` or a prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr

from dunpai.core.config.base import Env, Section

KEYS_DIR = "keys"
STORE_FILE = "keystore.dpks"
PASSPHRASE_FILE = "passphrase"  # noqa: S105 - a file name, not a secret


class KdfSettings(Section):
    """Argon2id cost of a new software store (RFC 9106's second recommendation by default). Only
    throw-away stores (tests, benchmarks) should ever lower it."""

    iterations: int = Field(default=3, ge=1, le=100, description="Argon2id passes")
    memory_mib: int = Field(default=64, ge=1, le=4096, description="Argon2id memory in MiB")
    lanes: int = Field(default=4, ge=1, le=64, description="Argon2id parallelism")


class KeystoreSettings(Section):
    backend: Annotated[Literal["software", "pkcs11"], Env("DUNPAI_KEYSTORE_BACKEND", ("DUNPAI_KEYSTORE",))] = Field(
        default="software", description="software (Argon2id-sealed file) or pkcs11 (token/HSM)")
    path: Path | None = Field(default=None, description="software store file (default: DIR/keys/keystore.dpks)")
    passphrase: Annotated[SecretStr | None, Env("DUNPAI_KEYSTORE_PASSPHRASE")] = Field(
        default=None, description="software store passphrase (environment only, never a file or flag)")
    passphrase_file: Path | None = Field(
        default=None, description="file holding the passphrase, mode 0600 (default: DIR/keys/passphrase)")
    module: Annotated[str | None, Env("DUNPAI_PKCS11_MODULE", ("DUNPAI_SOFTHSM_MODULE",))] = Field(
        default=None, description="PKCS#11 module (default: SoftHSM2 when installed)")
    token_label: Annotated[str | None, Env("DUNPAI_PKCS11_TOKEN")] = Field(
        default=None, description="PKCS#11 token label")
    pin: Annotated[SecretStr | None, Env("DUNPAI_PKCS11_PIN", ("DUNPAI_TOKEN_PIN",))] = Field(
        default=None, description="PKCS#11 user PIN (environment only)")
    gm: bool = Field(default=False, description="SM4 / HMAC-SM3 standard keys (GM/T deployments)")
    kdf: KdfSettings = KdfSettings()

    def store_path(self, directory: Path) -> Path:
        """The software store of a process whose directory is ``directory``."""
        return self.path or directory / KEYS_DIR / STORE_FILE

    def passphrase_path(self, directory: Path) -> Path:
        return self.passphrase_file or self.store_path(directory).parent / PASSPHRASE_FILE
