"""The comms key port over the real key stores: the PKCS#11 token ("key chip", SoftHSM2 in tests)
and the Argon2id-sealed software store. Contract: sign/verify, seal/open, opaque failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dunpai.comms.errors import AuthFailed, DecryptionFailed
from dunpai.comms.keys_port import DeviceKeys, MemoryKeys, from_key_store, verify_user_signature


@pytest.fixture(params=["memory", "software", "pkcs11"])
def keys(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeviceKeys]:
    if request.param == "memory":
        yield MemoryKeys()
        return
    from dunpai.keys import Argon2Params, find_softhsm_module, open_keystore, temporary_softhsm_token

    if request.param == "software":
        store = open_keystore("software", path=tmp_path / "k.dks", passphrase="pw", create=True,
                              argon2=Argon2Params(1, 1024, 1))
    else:
        if find_softhsm_module() is None:
            pytest.skip("SoftHSM2 not installed")
        token = temporary_softhsm_token()
        store = open_keystore("pkcs11", module_path=token.module_path, token_label=token.token_label,
                              pin=token.pin)
    yield from_key_store(store)
    store.close()


def test_key_port_contract(keys: DeviceKeys) -> None:
    public = keys.public_key()
    assert len(public) == 32
    verify_user_signature(public, b"device keys", keys.sign(b"device keys"))
    with pytest.raises(AuthFailed):
        verify_user_signature(public, b"other", keys.sign(b"device keys"))
    sealed = keys.seal(b"olm pickles", aad=b"state")
    assert b"olm pickles" not in sealed
    assert keys.open(sealed, aad=b"state") == b"olm pickles"
    for bad_aad, bad in ((b"other", sealed), (b"state", sealed[:-1] + bytes([sealed[-1] ^ 1]))):
        with pytest.raises(DecryptionFailed):
            keys.open(bad, aad=bad_aad)
