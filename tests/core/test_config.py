"""The one settings tree: defaults < file < environment < flags; secrets only from the environment;
every bad key named by its path; ``docs/configuration.md`` generated from the model and current."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dunpai.core.config import KeystoreSettings, Settings, load_settings, secret
from dunpai.core.config.base import walk
from dunpai.core.config.reference import render
from dunpai.core.errors import InvalidInput

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for leaf in walk(Settings):
        for name in (leaf.env, *leaf.deprecated) if leaf.env else ():
            monkeypatch.delenv(name, raising=False)


def test_later_sources_win_one_setting_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "dunpai.yaml"
    file.write_text(yaml.safe_dump({"server": {"port": 8601, "host": "0.0.0.0"}, "bank": {"name_en": "File Bank"}}))
    assert load_settings().server.port == 8600  # the default
    from_file = load_settings(file)
    assert (from_file.server.port, from_file.server.host, from_file.config_file) == (8601, "0.0.0.0", file)
    monkeypatch.setenv("DUNPAI_SERVER_PORT", "8602")
    from_env = load_settings(file)
    assert (from_env.server.port, from_env.server.host, from_env.bank.name_en) == (8602, "0.0.0.0", "File Bank")
    flagged = load_settings(file, {"server": {"port": 8603}})
    assert (flagged.server.port, flagged.server.host) == (8603, "0.0.0.0")
    monkeypatch.setenv("DUNPAI_CONFIG", str(file))
    assert load_settings().server.host == "0.0.0.0"  # the file named by the environment


def test_bad_values_and_unknown_keys_are_named_by_their_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidInput) as exc:
        load_settings(None, {"server": {"port": 99999}})
    assert [p.field for p in exc.value.problems] == ["server.port"]
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump({"keystore": {"colour": "red"}, "comms": {"service": {"relay_ttl": 1}}}))
    with pytest.raises(InvalidInput) as exc:
        load_settings(file)
    assert sorted(p.field for p in exc.value.problems) == ["comms.service.relay_ttl", "keystore.colour"]
    monkeypatch.setenv("DUNPAI_STATE_BACKEND", "cassandra")
    with pytest.raises(InvalidInput) as exc:
        load_settings()
    assert exc.value.problems[0].field == "state.backend"


def test_secrets_come_from_the_environment_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "leaky.yaml"
    file.write_text(yaml.safe_dump({"keystore": {"passphrase": "hunter2", "pin": "1234"}}))
    with pytest.raises(InvalidInput) as exc:
        load_settings(file)
    assert sorted(p.field for p in exc.value.problems) == ["keystore.passphrase", "keystore.pin"]
    monkeypatch.setenv("DUNPAI_KEYSTORE_PASSPHRASE", "from the environment")
    loaded = load_settings()
    assert secret(loaded.keystore.passphrase) == "from the environment"
    assert "from the environment" not in repr(loaded)  # never printed


def test_names_published_before_the_tree_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUNPAI_TOKEN_PIN", "old-name")
    monkeypatch.setenv("DUNPAI_KEYSTORE", "pkcs11")
    monkeypatch.setenv("DUNPAI_SOFTHSM_MODULE", "/lib/module.so")
    cfg = load_settings().keystore
    assert (secret(cfg.pin), cfg.backend, cfg.module) == ("old-name", "pkcs11", "/lib/module.so")
    monkeypatch.setenv("DUNPAI_PKCS11_PIN", "new-name")  # the current name wins
    assert secret(load_settings().keystore.pin) == "new-name"


def test_every_setting_has_a_description_and_every_variable_is_unique() -> None:
    leaves = list(walk(Settings))
    assert all(leaf.field.description for leaf in leaves), [leaf.dotted for leaf in leaves
                                                          if not leaf.field.description]
    names = [n for leaf in leaves for n in (leaf.env, *leaf.deprecated) if n]
    assert len(names) == len(set(names))


def test_one_key_store_path_for_every_process(tmp_path: Path) -> None:
    cfg = KeystoreSettings()
    assert cfg.store_path(tmp_path) == tmp_path / "keys" / "keystore.dpks"
    assert cfg.passphrase_path(tmp_path) == tmp_path / "keys" / "passphrase"
    moved = KeystoreSettings(path=tmp_path / "elsewhere" / "k.dpks")
    assert moved.passphrase_path(Path("/ignored")) == tmp_path / "elsewhere" / "passphrase"


def test_the_configuration_reference_is_generated_and_current() -> None:
    current = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert current == render(), "docs/configuration.md is stale: run `python scripts/gen_config_docs.py`"
    for leaf in walk(Settings):
        assert f"`{leaf.dotted}`" in current
        if leaf.env:
            assert f"`{leaf.env}`" in current
