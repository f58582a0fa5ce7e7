"""Key-store fixtures: every contract test runs once per backend (software file, SoftHSM2 token)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.services import services_required

from dunpai.keys import (
    Argon2Params,
    KeyStore,
    SoftHsmToken,
    find_softhsm_module,
    open_keystore,
    temporary_softhsm_token,
)

# Cheap Argon2id for tests only; production defaults are untouched (see software_file.Argon2Params).
TEST_ARGON2 = Argon2Params(time_cost=1, memory_cost_kib=1024, parallelism=1)
PASSPHRASE = "correct horse battery staple"


def softhsm_or_skip() -> None:
    if find_softhsm_module() is None:
        if services_required():
            pytest.fail("SoftHSM2 (libsofthsm2.so) is required but not installed")
        pytest.skip("SoftHSM2 is not installed (apt-get install softhsm2)")


@pytest.fixture
def software_store(tmp_path: Path) -> Iterator[KeyStore]:
    store = open_keystore("software", path=tmp_path / "keys.dpks", passphrase=PASSPHRASE,
                          create=True, argon2=TEST_ARGON2)
    yield store
    store.close()


@pytest.fixture
def softhsm_token() -> SoftHsmToken:
    """A fresh, empty SoftHSM2 token in a temporary directory (never a system token)."""
    softhsm_or_skip()
    return temporary_softhsm_token()


@pytest.fixture
def pkcs11_store(softhsm_token: SoftHsmToken) -> Iterator[KeyStore]:
    token = softhsm_token
    store = open_keystore("pkcs11", module_path=token.module_path, token_label=token.token_label,
                          pin=token.pin)
    yield store
    store.close()


@pytest.fixture(params=["software", "pkcs11"])
def store(request: pytest.FixtureRequest) -> KeyStore:
    fixture = "software_store" if request.param == "software" else "pkcs11_store"
    result: KeyStore = request.getfixturevalue(fixture)
    return result
