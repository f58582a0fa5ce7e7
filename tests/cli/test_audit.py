"""``dunpai audit verify`` passes on a database and fails, naming the entry, after any row is edited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from dunpai.audit import AuditLog
from dunpai.audit.tables import audit_checkpoints, audit_entries
from dunpai.cli.audit import app as audit_app
from dunpai.cli.keys import app as keys_app
from dunpai.core.db import make_engine
from dunpai.keys import open_keystore

runner = CliRunner()
COLUMNS = ["prev_hash", "entry_hash", "recorded_at", "actor", "action", "subject", "details"]


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    """A database and key store set up the way an operator would: through ``dunpai keys init``."""
    monkeypatch.setenv("DUNPAI_KEYSTORE_PASSPHRASE", "audit cli passphrase")
    url = f"sqlite:///{tmp_path / 'dunpai.db'}"
    opts = ["--backend", "software", "--path", str(tmp_path / "keys.dpks")]
    # A cheap Argon2id for the test; the command's defaults are RFC 9106's (3 passes, 64 MiB, 4 lanes).
    cheap_kdf = ["--kdf-iterations", "1", "--kdf-memory-mib", "1", "--kdf-lanes", "1"]
    result = runner.invoke(keys_app, ["init", "--database-url", url, "--actor", "sec-admin",
                                      *cheap_kdf, *opts])
    assert result.exit_code == 0, result.output
    store = open_keystore("software", path=tmp_path / "keys.dpks", passphrase="audit cli passphrase")
    engine = make_engine(url)
    log = AuditLog(engine, store, checkpoint_every=3)
    for i in range(6):
        log.append(f"emp-{i}", "account.restrict", f"account:{i}", {"ladder": "restrict"})
    engine.dispose()
    store.close()
    assert runner.invoke(keys_app, ["rotate", "audit-signing", "--database-url", url, *opts]).exit_code == 0
    return url, opts


def test_verify_passes_on_an_untouched_database(deployment: tuple[str, list[str]]) -> None:
    url, opts = deployment
    result = runner.invoke(audit_app, ["verify", "--database-url", url, "--checkpoint-every", "3", *opts])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "8 entries" in result.output
    report = json.loads(runner.invoke(audit_app, ["verify", "--json", "--database-url", url, *opts]).output)
    assert report["ok"] is True and report["entries"] == 8 and report["checkpoints"] == 8  # every head signed
    engine = make_engine(url)
    with engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(audit_entries).order_by(audit_entries.c.seq))]
    engine.dispose()
    assert actions[0] == "keys.init" and actions[-1] == "keys.rotate"


@pytest.mark.parametrize("column,seq", [(c, 4) for c in COLUMNS] + [("details", 1), ("actor", 8)])
def test_verify_names_the_edited_entry(deployment: tuple[str, list[str]], column: str, seq: int) -> None:
    url, opts = deployment
    engine = make_engine(url)
    with engine.begin() as conn:
        old = conn.execute(select(audit_entries.c[column]).where(audit_entries.c.seq == seq)).scalar_one()
        conn.execute(update(audit_entries).where(audit_entries.c.seq == seq)
                     .values({column: old[:-1] + ("x" if old[-1] != "x" else "y")}))
    engine.dispose()
    result = runner.invoke(audit_app, ["verify", "--database-url", url, *opts])
    assert result.exit_code == 1
    assert f"BROKEN at entry {seq}" in result.output
    report = json.loads(runner.invoke(audit_app, ["verify", "--json", "--database-url", url, *opts]).output)
    assert (report["ok"], report["first_bad_seq"], report["where"]) == (False, seq, "entry")


def test_verify_fails_on_a_forged_checkpoint(deployment: tuple[str, list[str]]) -> None:
    url, opts = deployment
    signed = runner.invoke(audit_app, ["checkpoint", "--database-url", url, *opts])
    assert signed.exit_code == 0 and "entry 8" in signed.output
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(update(audit_checkpoints).where(audit_checkpoints.c.seq == 3)
                     .values(signature=b"\x00" * 64))
    engine.dispose()
    result = runner.invoke(audit_app, ["verify", "--database-url", url, *opts])
    assert result.exit_code == 1 and "BROKEN at checkpoint 3" in result.output


def test_verify_fails_on_a_deleted_row(deployment: tuple[str, list[str]]) -> None:
    url, opts = deployment
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(delete(audit_entries).where(audit_entries.c.seq == 5))
    engine.dispose()
    result = runner.invoke(audit_app, ["verify", "--database-url", url, *opts])
    assert result.exit_code == 1 and "entry 5" in result.output
