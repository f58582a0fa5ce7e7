"""The encrypted software key store's file: sealed, tamper-evident, and shared safely."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dunpai.keys import Argon2Params, DecryptionFailed, KeyStoreError, open_keystore
from dunpai.keys.software import SoftwareKeyStore
from dunpai.keys.software_file import HEADER_LEN

PASSPHRASE = "software store test"
TEST_ARGON2 = Argon2Params(time_cost=1, memory_cost_kib=1024, parallelism=1)


def make(path: Path) -> SoftwareKeyStore:
    return SoftwareKeyStore.create(path, PASSPHRASE, params=TEST_ARGON2)


def test_defaults_are_rfc9106_and_weak_params_are_refused() -> None:
    assert Argon2Params() == Argon2Params(time_cost=3, memory_cost_kib=65536, parallelism=4)
    with pytest.raises(KeyStoreError):
        Argon2Params(time_cost=0)


def test_keys_persist_and_the_file_holds_no_key_in_clear(tmp_path: Path) -> None:
    path = tmp_path / "k.dpks"
    store = make(path)
    info = store.generate("tok", "hmac-sha256")
    mac = store.sign(info.key_id, b"x")
    store.close()
    blob = path.read_bytes()
    assert blob[:5] == b"DPKS\x01"
    assert b"hmac-sha256" not in blob and b"tok" not in blob  # even metadata is sealed
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = SoftwareKeyStore.open(path, PASSPHRASE)
    assert again.sign(info.key_id, b"x") == mac
    again.close()


def test_wrong_passphrase_and_every_flipped_byte_fail_opaquely(tmp_path: Path) -> None:
    path = tmp_path / "k.dpks"
    make(path).generate("sig", "ed25519")
    blob = path.read_bytes()
    with pytest.raises(DecryptionFailed) as wrong:
        SoftwareKeyStore.open(path, "not the passphrase")
    assert str(wrong.value) == "decryption failed"
    for i in range(len(blob)):
        path.write_bytes(blob[:i] + bytes([blob[i] ^ 0x01]) + blob[i + 1 :])
        with pytest.raises(DecryptionFailed):
            SoftwareKeyStore.open(path, PASSPHRASE)
    path.write_bytes(blob[: HEADER_LEN + 5])
    with pytest.raises(DecryptionFailed):
        SoftwareKeyStore.open(path, PASSPHRASE)


def test_two_handles_on_one_file_do_not_lose_keys(tmp_path: Path) -> None:
    path = tmp_path / "k.dpks"
    a = make(path)
    b = SoftwareKeyStore.open(path, PASSPHRASE)
    a.generate("one", "ed25519")
    b.generate("two", "aes-256")  # b re-reads the file under the lock before changing it
    a.reload()
    assert [i.label for i in a.list()] == ["one", "two"]


def test_create_refuses_to_overwrite_and_open_needs_a_file(tmp_path: Path) -> None:
    path = tmp_path / "k.dpks"
    make(path)
    with pytest.raises(KeyStoreError):
        make(path)
    with pytest.raises(KeyStoreError):
        SoftwareKeyStore.open(tmp_path / "missing.dpks", PASSPHRASE)
    with pytest.raises(KeyStoreError):
        open_keystore("software", path=path, passphrase="")


def test_gm_kinds_work_in_software(tmp_path: Path) -> None:
    store = make(tmp_path / "k.dpks")
    kek = store.generate("gm-kek", "sm4-128")
    mac = store.generate("gm-mac", "hmac-sm3")
    assert store.unwrap(kek.key_id, store.wrap(kek.key_id, b"d" * 16)) == b"d" * 16
    tag = store.sign(mac.key_id, b"6222021234567890")
    assert len(tag) == 32
    store.verify(mac.key_id, b"6222021234567890", tag)
