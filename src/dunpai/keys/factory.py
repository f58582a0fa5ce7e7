"""One place that turns configuration into a key store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

from dunpai.keys.errors import KeyStoreError
from dunpai.keys.software_file import Argon2Params
from dunpai.keys.store import KeyStore

BackendName = Literal["software", "pkcs11"]


def open_keystore(
    backend: BackendName,
    *,
    path: Path | str | None = None,
    passphrase: str | None = None,
    create: bool = False,
    argon2: Argon2Params | None = None,
    module_path: str | None = None,
    token_label: str | None = None,
    pin: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> KeyStore:
    """Open (or, for the software store with ``create=True``, create) a key store.

    software: ``path`` + ``passphrase`` (``argon2`` only matters when creating).
    pkcs11: ``module_path`` + ``token_label`` + ``pin``; the token must exist already.
    """
    extra = {"clock": clock} if clock is not None else {}
    if backend == "software":
        from dunpai.keys.software import SoftwareKeyStore

        if path is None or not passphrase:
            raise KeyStoreError("the software key store needs a path and a passphrase")
        if create and not Path(path).exists():
            return SoftwareKeyStore.create(path, passphrase, params=argon2, **extra)
        return SoftwareKeyStore.open(path, passphrase, **extra)
    if backend == "pkcs11":
        from dunpai.keys.pkcs11_store import Pkcs11KeyStore

        if not module_path or not token_label or pin is None:
            raise KeyStoreError("the PKCS#11 key store needs a module path, a token label and a PIN")
        return Pkcs11KeyStore(module_path, token_label, pin, **extra)
    raise KeyStoreError(f"unknown key store backend {backend!r}")
