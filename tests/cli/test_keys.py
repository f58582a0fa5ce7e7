"""``dunpai keys init|list|rotate`` on both backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dunpai.cli.keys import app
from dunpai.keys import SoftHsmToken

runner = CliRunner()
CHEAP_KDF = ["--kdf-iterations", "1", "--kdf-memory-mib", "1", "--kdf-lanes", "1"]  # tests only


@pytest.fixture
def software_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("DUNPAI_KEYSTORE_PASSPHRASE", "cli test passphrase")
    monkeypatch.delenv("DUNPAI_DATABASE_URL", raising=False)
    return ["--backend", "software", "--path", str(tmp_path / "keys.dpks")]


@pytest.fixture
def pkcs11_env(softhsm_token: SoftHsmToken, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("DUNPAI_PKCS11_PIN", softhsm_token.pin)
    monkeypatch.delenv("DUNPAI_DATABASE_URL", raising=False)
    return ["--backend", "pkcs11", "--module", softhsm_token.module_path, "--token-label",
            softhsm_token.token_label]


@pytest.mark.parametrize("env_fixture", ["software_env", "pkcs11_env"])
def test_init_list_rotate(request: pytest.FixtureRequest, env_fixture: str) -> None:
    opts: list[str] = request.getfixturevalue(env_fixture)
    first = runner.invoke(app, ["init", *CHEAP_KDF, *opts])
    assert first.exit_code == 0, first.output
    assert "created audit-signing/v1 (ed25519)" in first.output
    assert "already" in runner.invoke(app, ["init", *opts]).output  # idempotent
    rotated = runner.invoke(app, ["rotate", "data-kek", *opts])
    assert rotated.exit_code == 0 and "data-kek/v2" in rotated.output
    listed = runner.invoke(app, ["list", "--json", *opts])
    assert listed.exit_code == 0, listed.output
    keys = {(k["key_id"], k["state"]) for k in json.loads(listed.output)}
    assert keys == {("audit-signing/v1", "active"), ("data-kek/v1", "retired"), ("data-kek/v2", "active"),
                    ("pan-token/v1", "active"), ("id-token/v1", "active"), ("evidence-signing/v1", "active")}
    assert all(k["extractable"] is False for k in json.loads(listed.output))
    table = runner.invoke(app, ["list", *opts])
    assert table.exit_code == 0 and "data-kek/v2" in table.output
    missing = runner.invoke(app, ["rotate", "no-such-key", *opts])
    assert missing.exit_code == 1


def test_wrong_passphrase_exits_cleanly(software_env: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, ["init", *CHEAP_KDF, *software_env]).exit_code == 0
    monkeypatch.setenv("DUNPAI_KEYSTORE_PASSPHRASE", "wrong")
    result = runner.invoke(app, ["list", *software_env])
    assert result.exit_code == 2 and "cannot open the key store" in result.output


def test_gm_init_in_software(software_env: list[str]) -> None:
    assert runner.invoke(app, ["init", "--gm", *CHEAP_KDF, *software_env]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["list", "--json", *software_env]).output)
    assert {k["label"]: k["kind"] for k in listed}["data-kek"] == "sm4-128"
