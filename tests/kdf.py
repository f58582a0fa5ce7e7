"""Cheap Argon2id for throw-away key stores in tests: the ``keystore.kdf`` settings, given the way a
deployment gives them (environment variables for commands and child processes, a settings object
for library calls). Production keeps RFC 9106's defaults."""

from __future__ import annotations

import pytest

from dunpai.core.config import KdfSettings, KeystoreSettings

CHEAP_KDF_ENV = {"DUNPAI_KEYSTORE_KDF_ITERATIONS": "1", "DUNPAI_KEYSTORE_KDF_MEMORY_MIB": "1",
                 "DUNPAI_KEYSTORE_KDF_LANES": "1"}
CHEAP_KEYSTORE = KeystoreSettings(kdf=KdfSettings(iterations=1, memory_mib=1, lanes=1))


def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CHEAP_KDF_ENV.items():
        monkeypatch.setenv(name, value)
