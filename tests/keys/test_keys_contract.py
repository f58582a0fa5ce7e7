"""The one key-store contract, run against every backend (the ``store`` fixture is parametrised)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dunpai.core.errors import InvalidInput
from dunpai.keys import (
    DecryptionFailed,
    InvalidSignature,
    KeyExists,
    KeyNotFound,
    KeyStore,
    KeyStoreError,
)
from dunpai.keys.primitives import hkdf, verify_with_public


@pytest.mark.parametrize("kind,public_len", [("ed25519", 32), ("ec-p256", 65)])
def test_sign_verify_and_public_key(store: KeyStore, kind: str, public_len: int) -> None:
    info = store.generate("signer", kind)  # type: ignore[arg-type]
    assert (info.key_id, info.version, info.state, info.kind) == ("signer/v1", 1, "active", kind)
    assert info.extractable is False and info.backend == store.backend
    sig = store.sign(info.key_id, b"payee=6222...;amount=100.00")
    store.verify(info.key_id, b"payee=6222...;amount=100.00", sig)
    public = store.public_key(info.key_id)
    assert len(public) == public_len
    # The signature is standard: anyone with the public key checks it without the store.
    verify_with_public(info.kind, public, b"payee=6222...;amount=100.00", sig)
    with pytest.raises(InvalidSignature):
        store.verify(info.key_id, b"payee=6222...;amount=999.00", sig)
    with pytest.raises(InvalidSignature):
        store.verify(info.key_id, b"payee=6222...;amount=100.00", sig[:-1] + bytes([sig[-1] ^ 1]))
    with pytest.raises(InvalidSignature):
        store.verify(info.key_id, b"x", b"short")


def test_hmac_is_deterministic_and_verifies(store: KeyStore) -> None:
    info = store.generate("tok", "hmac-sha256")
    mac = store.sign(info.key_id, b"6222021234567890")
    assert len(mac) == 32 and mac == store.sign(info.key_id, b"6222021234567890")
    store.verify(info.key_id, b"6222021234567890", mac)
    with pytest.raises(InvalidSignature):
        store.verify(info.key_id, b"6222021234567891", mac)
    with pytest.raises(KeyStoreError):
        store.public_key(info.key_id)


def test_wrap_unwrap_round_trip_and_binding(store: KeyStore) -> None:
    kek = store.generate("kek", "aes-256")
    other = store.generate("kek2", "aes-256")
    wrapped = store.wrap(kek.key_id, b"\x07" * 32)
    assert wrapped != store.wrap(kek.key_id, b"\x07" * 32)  # fresh nonce each time
    assert store.unwrap(kek.key_id, wrapped) == b"\x07" * 32
    for bad in (wrapped[:-1], wrapped[:-1] + bytes([wrapped[-1] ^ 1]), b"", b"\x02" + wrapped[1:]):
        with pytest.raises(DecryptionFailed):
            store.unwrap(kek.key_id, bad)
    with pytest.raises(DecryptionFailed):
        store.unwrap(other.key_id, wrapped)  # bound to the wrapping key
    with pytest.raises(DecryptionFailed):
        store.unwrap("nosuch/v1", wrapped)


def test_derive_agrees_with_peer(store: KeyStore) -> None:
    info = store.generate("dh", "ec-p256")
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_public = peer.public_key().public_bytes(serialization.Encoding.X962,
                                                 serialization.PublicFormat.UncompressedPoint)
    ours = store.derive(info.key_id, peer_public, info=b"dunpai test", length=32)
    point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), store.public_key(info.key_id))
    theirs = hkdf(peer.exchange(ec.ECDH(), point), info=b"dunpai test", length=32, salt=None)
    assert ours == theirs
    assert store.derive(info.key_id, peer_public, info=b"other", length=32) != ours
    with pytest.raises(KeyStoreError):
        store.derive(info.key_id, b"\x04" + b"\x01" * 64, info=b"x")  # not on the curve


def test_rotate_keeps_old_versions_usable(store: KeyStore) -> None:
    v1 = store.generate("audit", "ed25519")
    sig1 = store.sign(v1.key_id, b"m")
    v2 = store.rotate("audit")
    assert (v2.key_id, v2.version, v2.state) == ("audit/v2", 2, "active")
    assert store.find("audit") == v2
    assert store.get(v1.key_id).state == "retired"
    store.verify(v1.key_id, b"m", sig1)
    assert store.public_key(v1.key_id) != store.public_key(v2.key_id)
    with pytest.raises(KeyNotFound):
        store.rotate("never-made")


def test_destroy_and_versions_are_never_reused(store: KeyStore) -> None:
    v1 = store.generate("kek", "aes-256")
    wrapped = store.wrap(v1.key_id, b"k" * 32)
    v2 = store.rotate("kek")
    store.destroy(v1.key_id)
    with pytest.raises(DecryptionFailed):
        store.unwrap(v1.key_id, wrapped)
    with pytest.raises(KeyNotFound):
        store.get(v1.key_id)
    with pytest.raises(KeyNotFound):
        store.destroy(v1.key_id)
    store.destroy(v2.key_id)
    with pytest.raises(KeyNotFound):
        store.find("kek")
    again = store.generate("kek", "aes-256")
    assert again.version == 3  # tombstones keep ids unique


def test_list_with_metadata(store: KeyStore) -> None:
    store.generate("a-sign", "ed25519")
    store.generate("b-kek", "aes-256")
    store.rotate("b-kek")
    listed = [(i.key_id, i.kind, i.state) for i in store.list()]
    assert listed == [
        ("a-sign/v1", "ed25519", "active"),
        ("b-kek/v1", "aes-256", "retired"),
        ("b-kek/v2", "aes-256", "active"),
    ]
    assert all(i.created_at.tzinfo is not None for i in store.list())


def test_generate_refuses_duplicates_and_bad_input(store: KeyStore) -> None:
    store.generate("dup", "ed25519")
    with pytest.raises(KeyExists):
        store.generate("dup", "ed25519")
    with pytest.raises(InvalidInput):
        store.generate("Bad Label!", "ed25519")
    with pytest.raises(InvalidInput):
        store.generate("x", "rsa-1024")  # type: ignore[arg-type]


def test_operations_check_the_key_kind(store: KeyStore) -> None:
    kek = store.generate("kek", "aes-256")
    signer = store.generate("signer", "ed25519")
    with pytest.raises(KeyStoreError):
        store.sign(kek.key_id, b"x")
    with pytest.raises(KeyStoreError):
        store.wrap(signer.key_id, b"k" * 32)
    with pytest.raises(KeyNotFound):
        store.sign("missing/v1", b"x")


def test_closed_store_refuses_work(store: KeyStore) -> None:
    info = store.generate("s", "ed25519")
    store.close()
    with pytest.raises(KeyStoreError):
        store.sign(info.key_id, b"x")
