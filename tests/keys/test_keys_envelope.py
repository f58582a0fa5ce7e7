"""Envelope recipe: round trips (Hypothesis), tampering, rotation by re-wrapping, both suites."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dunpai.keys import DecryptionFailed, Envelope, KeyStore
from dunpai.keys.envelope import _data_aad
from dunpai.keys.suites import SUITE_NAMES, SUITES

SUITES_PARAM = pytest.mark.parametrize("suite_name", SUITE_NAMES)
HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def kek_store(store: KeyStore) -> KeyStore:
    store.generate("data-kek", "aes-256")
    return store


@SUITES_PARAM
def test_round_trip_on_every_backend(kek_store: KeyStore, suite_name: str) -> None:
    env = Envelope(kek_store, "data-kek", suite_name)  # type: ignore[arg-type]
    sealed = env.seal("张三 / Zhang San".encode(), b"customer:42/name")
    assert env.open(sealed, b"customer:42/name") == "张三 / Zhang San".encode()
    assert sealed[0] == 1 and sealed[1] == SUITES[suite_name].suite_id  # type: ignore[index]
    assert Envelope.key_id_of(sealed) == "data-kek/v1"
    assert env.seal(b"same", b"") != env.seal(b"same", b"")  # fresh data key and nonce


@SUITES_PARAM
@HYP
@given(plaintext=st.binary(max_size=2048), aad=st.binary(max_size=64))
def test_hypothesis_round_trip(software_store: KeyStore, suite_name: str, plaintext: bytes,
                               aad: bytes) -> None:
    if not software_store.list():
        software_store.generate("data-kek", "aes-256")
    env = Envelope(software_store, "data-kek", suite_name)  # type: ignore[arg-type]
    assert env.open(env.seal(plaintext, aad), aad) == plaintext


@SUITES_PARAM
def test_every_changed_byte_is_detected(software_store: KeyStore, suite_name: str) -> None:
    software_store.generate("data-kek", "aes-256")
    env = Envelope(software_store, "data-kek", suite_name)  # type: ignore[arg-type]
    sealed = env.seal(b"ID 450102199001011234", b"aad")
    for i in range(len(sealed)):
        for flip in (0x01, 0x80):
            bad = sealed[:i] + bytes([sealed[i] ^ flip]) + sealed[i + 1 :]
            with pytest.raises(DecryptionFailed):
                env.open(bad, b"aad")
    for cut in range(len(sealed)):
        with pytest.raises(DecryptionFailed):
            env.open(sealed[:cut], b"aad")
    with pytest.raises(DecryptionFailed):
        env.open(sealed + b"\x00", b"aad")
    with pytest.raises(DecryptionFailed):
        env.open(sealed, b"other context")


@HYP
@given(data=st.data())
def test_hypothesis_tamper(software_store: KeyStore, data: st.DataObject) -> None:
    if not software_store.list():
        software_store.generate("data-kek", "aes-256")
    env = Envelope(software_store, "data-kek")
    plaintext = data.draw(st.binary(max_size=256))
    sealed = env.seal(plaintext, b"ctx")
    i = data.draw(st.integers(0, len(sealed) - 1))
    delta = data.draw(st.integers(1, 255))
    with pytest.raises(DecryptionFailed):
        env.open(sealed[:i] + bytes([sealed[i] ^ delta]) + sealed[i + 1 :], b"ctx")


def test_failures_are_opaque(software_store: KeyStore) -> None:
    software_store.generate("data-kek", "aes-256")
    env = Envelope(software_store, "data-kek")
    sealed = env.seal(b"x")
    messages = set()
    for bad in (b"", b"\x09" + sealed[1:], sealed[:-1] + bytes([sealed[-1] ^ 1]), sealed[:10]):
        with pytest.raises(DecryptionFailed) as info:
            env.open(bad)
        messages.add(str(info.value))
    assert messages == {"decryption failed"}


def test_rotation_rewraps_without_touching_data(kek_store: KeyStore) -> None:
    env = Envelope(kek_store, "data-kek")
    sealed = env.seal(b"13800138000", b"phone")
    kek_store.rotate("data-kek")
    assert env.open(sealed, b"phone") == b"13800138000"  # old version still opens
    rewrapped = env.rewrap(sealed)
    assert Envelope.key_id_of(rewrapped) == "data-kek/v2"
    assert rewrapped[-(16 + 11 + 12):] == sealed[-(16 + 11 + 12):]  # nonce + ciphertext + tag unchanged
    assert env.rewrap(rewrapped) is rewrapped
    kek_store.destroy("data-kek/v1")
    assert env.open(rewrapped, b"phone") == b"13800138000"
    with pytest.raises(DecryptionFailed):
        env.open(sealed, b"phone")  # the old wrapping is gone with its key


def test_suites_coexist(software_store: KeyStore) -> None:
    software_store.generate("data-kek", "aes-256")
    aes = Envelope(software_store, "data-kek")
    sm4 = Envelope(software_store, "data-kek", "sm4-gcm")
    assert aes.open(sm4.seal(b"gm", b"a"), b"a") == b"gm"
    assert sm4.open(aes.seal(b"aes", b"a"), b"a") == b"aes"


def test_known_answer_through_the_envelope(software_store: KeyStore) -> None:
    """With a fixed data key and nonce the body is exactly AES-256-GCM over the documented AAD."""
    software_store.generate("data-kek", "aes-256")
    env = Envelope(software_store, "data-kek")
    key, nonce = bytes(range(32)), bytes(range(12))
    sealed = env.seal_with(b"hello", b"ctx", data_key=key, nonce=nonce)
    documented_aad = b"dunpai-envelope\x01\x01\x00\x00\x00\x03ctx"
    expected_body = SUITES["aes-256-gcm"].encrypt(key, nonce, b"hello", documented_aad)
    assert _data_aad(1, 1, b"ctx") == documented_aad
    assert sealed.endswith(nonce + expected_body)
    assert sealed[:3 + 11] == b"\x01\x01\x0bdata-kek/v1"
    assert env.open(sealed, b"ctx") == b"hello"


def test_gm_all_the_way_in_the_software_store(software_store: KeyStore) -> None:
    software_store.generate("gm-kek", "sm4-128")
    env = Envelope(software_store, "gm-kek", "sm4-gcm")
    assert env.open(env.seal(b"data", b""), b"") == b"data"
