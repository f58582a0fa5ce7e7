"""What only a token gives: key values the token refuses to reveal or export."""

from __future__ import annotations

import pkcs11
import pytest
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.exceptions import AttributeSensitive, KeyUnextractable

from dunpai.keys import KeyStore, KeyStoreError, SoftHsmToken, open_keystore


@pytest.fixture
def token(softhsm_token: SoftHsmToken) -> SoftHsmToken:
    return softhsm_token


def _open(token: SoftHsmToken) -> KeyStore:
    return open_keystore("pkcs11", module_path=token.module_path, token_label=token.token_label,
                         pin=token.pin)


@pytest.mark.parametrize("kind,object_class", [
    ("ed25519", ObjectClass.PRIVATE_KEY),
    ("ec-p256", ObjectClass.PRIVATE_KEY),
    ("aes-256", ObjectClass.SECRET_KEY),
    ("hmac-sha256", ObjectClass.SECRET_KEY),
])
def test_token_refuses_to_reveal_or_export_key_values(token: SoftHsmToken, kind: str,
                                                       object_class: ObjectClass) -> None:
    store = _open(token)
    info = store.generate("secret", kind)  # type: ignore[arg-type]
    store.close()
    # A separate session, as an attacker holding the PIN would open one.
    lib = pkcs11.lib(token.module_path)
    with lib.get_token(token_label=token.token_label).open(rw=True, user_pin=token.pin) as session:
        key = session.get_key(object_class=object_class, id=info.key_id.encode())
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        with pytest.raises(AttributeSensitive):
            key[Attribute.VALUE]
        # ... who makes a wrapping key of their own and asks the token to export the key under it.
        caps = MechanismFlag.WRAP | MechanismFlag.UNWRAP
        wrapping = session.generate_key(KeyType.AES, 256, capabilities=caps)
        with pytest.raises(KeyUnextractable):
            wrapping.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        if kind in ("ed25519", "ec-p256"):
            public = session.get_key(object_class=ObjectClass.PUBLIC_KEY, id=info.key_id.encode())
            assert len(public[Attribute.EC_POINT]) > 32  # the public half is readable, as it should be


def test_keys_and_metadata_live_on_the_token(token: SoftHsmToken) -> None:
    first = _open(token)
    v1 = first.generate("audit", "ed25519")
    sig = first.sign(v1.key_id, b"checkpoint")
    first.rotate("audit")
    first.close()
    second = _open(token)
    assert [(i.key_id, i.state) for i in second.list()] == [("audit/v1", "retired"), ("audit/v2", "active")]
    second.verify(v1.key_id, b"checkpoint", sig)
    second.close()


def test_wrong_pin_is_refused(token: SoftHsmToken) -> None:
    with pytest.raises(KeyStoreError):
        open_keystore("pkcs11", module_path=token.module_path, token_label=token.token_label, pin="wrong")


def test_gm_kinds_need_a_token_that_has_them(token: SoftHsmToken) -> None:
    store = _open(token)
    with pytest.raises(KeyStoreError):
        store.generate("gm", "sm4-128")
    store.close()
