"""Evidence export signs only with the data directory's own key store, never a new one; verify says
whether the signer is the bank's published key (issue 14, item 7)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dunpai.cli import app
from tests.risk.cases.conftest import ANALYST, S1_CUSTOMER, World


def _data_dir_without_keys(world: World, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    with world.risk.db.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(FULL)")
    shutil.copy(Path(str(world.risk.db.url.database)), data / "dunpai.db")
    return data


def test_export_never_creates_a_key_store(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data_dir_without_keys(world, tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DUNPAI_KEYSTORE_PASSPHRASE", "x")
    monkeypatch.delenv("DUNPAI_DATABASE_URL", raising=False)
    out = tmp_path / "bundle"
    res = CliRunner().invoke(app, ["evidence", "export", world.case_of(S1_CUSTOMER), "--out", str(out),
                                   "--data-dir", str(data)])
    assert res.exit_code == 2 and "no key store" in res.output, res.output
    assert not out.exists()
    assert not (data / "keys").exists() and not (tmp_path / ".dunpai").exists()


def test_export_refuses_a_store_without_the_published_evidence_key(world: World, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from dunpai.keys import Argon2Params, open_keystore

    data = _data_dir_without_keys(world, tmp_path)
    store = open_keystore("software", path=data / "keys" / "keystore.dpks", passphrase="x", create=True,
                          argon2=Argon2Params(1, 1024, 1))
    store.generate("audit-signing", "ed25519")  # a store made before evidence-signing was a standard key
    store.close()
    monkeypatch.setenv("DUNPAI_KEYSTORE_PASSPHRASE", "x")
    monkeypatch.delenv("DUNPAI_DATABASE_URL", raising=False)
    res = CliRunner().invoke(app, ["evidence", "export", world.case_of(S1_CUSTOMER), "--out", str(tmp_path / "b"),
                                   "--data-dir", str(data)])
    assert res.exit_code == 2 and "evidence-signing" in res.output, res.output


def test_verify_says_whether_the_signer_is_trusted(world: World, tmp_path: Path) -> None:
    cid = world.case_of(S1_CUSTOMER)
    bundle = tmp_path / "bundle"
    world.inc.export_evidence(ANALYST, cid, bundle)
    runner = CliRunner()
    unverified = runner.invoke(app, ["evidence", "verify", str(bundle)])
    assert unverified.exit_code == 3 and "NOT verified" in unverified.output, unverified.output
    assert runner.invoke(app, ["evidence", "verify", str(bundle), "--allow-untrusted"]).exit_code == 0
    key = world.keystore.public_key(world.keystore.find("evidence-signing").key_id).hex()
    trusted = runner.invoke(app, ["evidence", "verify", str(bundle), "--trusted-key", key, "--json"])
    assert trusted.exit_code == 0 and json.loads(trusted.output)["signer_verified"] is True
    wrong = runner.invoke(app, ["evidence", "verify", str(bundle), "--trusted-key", "01" * 32])
    assert wrong.exit_code == 1 and "not the trusted key" in wrong.output
