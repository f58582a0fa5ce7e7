"""The audit chain cannot be rewritten unnoticed (issue 14, item 6): rewrite entry 200, re-hash the
tail, delete the checkpoints, and ``dunpai audit verify`` fails; even someone holding the signing
key, who re-signs the rewritten head, is caught by an anchor kept off the machine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select, update
from typer.testing import CliRunner

from dunpai.audit import AuditLog
from dunpai.audit.chain import entry_hash
from dunpai.audit.tables import audit_checkpoints, audit_entries
from dunpai.cli import app
from dunpai.core.config import load_settings
from dunpai.core.db import init_schema, make_engine
from dunpai.keys import KeyStore
from dunpai.risk.runtime import open_keys
from tests.kdf import cheap_kdf


@dataclass
class DataDir:
    path: Path
    engine: Engine
    keys: KeyStore

    def cli(self, *args: str) -> Any:
        return CliRunner().invoke(app, [*args, "--data-dir", str(self.path)])

    def verify(self, *args: str) -> dict[str, Any]:
        result = self.cli("audit", "verify", "--json", *args)
        report: dict[str, Any] = json.loads(result.output)
        assert result.exit_code == (0 if report["ok"] else 1)
        return report


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DataDir]:
    cheap_kdf(monkeypatch)
    path = tmp_path / "data"
    path.mkdir()
    keys = open_keys(load_settings(overrides={"data_dir": path}))
    engine = make_engine(f"sqlite:///{path / 'dunpai.db'}")
    init_schema(engine)
    log = AuditLog(engine, keys)  # as every service builds it
    for i in range(1, 358):
        log.append(f"emp-{i % 7}", "case.transition", f"default/case/cas_{i}", {"n": i})
    yield DataDir(path, engine, keys)
    engine.dispose()
    keys.close()


def rewrite(engine: Engine, seq: int, *, cut_after: int | None = None) -> None:
    """What someone with write access to the database does: change one entry, re-hash everything
    after it so every link holds, drop the checkpoints (whose signatures no longer match)."""
    with engine.begin() as conn:
        if cut_after is not None:
            conn.execute(delete(audit_entries).where(audit_entries.c.seq > cut_after))
        rows = conn.execute(select(audit_entries).where(audit_entries.c.seq >= seq)
                            .order_by(audit_entries.c.seq)).all()
        prev = conn.execute(select(audit_entries.c.entry_hash).where(audit_entries.c.seq == seq - 1)).scalar_one()
        for row in rows:
            details = '{"n":0}' if row.seq == seq else row.details
            digest = entry_hash(row.seq, row.hash_alg, prev, row.recorded_at, row.actor, row.action, row.subject,
                                details)
            conn.execute(update(audit_entries).where(audit_entries.c.seq == row.seq)
                         .values(details=details, prev_hash=prev, entry_hash=digest))
            prev = digest
        conn.execute(delete(audit_checkpoints))


def test_every_append_signs_the_head(data: DataDir) -> None:
    report = data.verify()
    assert report["ok"] and report["entries"] == 357 and report["unsigned_tail"] == 0


def test_a_rewritten_tail_without_its_checkpoints_fails(data: DataDir) -> None:
    rewrite(data.engine, 200)
    report = data.verify()
    assert not report["ok"] and report["where"] == "checkpoint" and "not covered" in report["problem"]
    assert report["first_bad_seq"] == 1
    tolerant = data.verify("--allow-unsigned-tail", "1000")  # what verify said before: the chain links hold
    assert tolerant["ok"]


def test_an_anchor_kept_off_the_machine_catches_a_re_signed_rewrite(data: DataDir, tmp_path: Path) -> None:
    anchor = tmp_path / "off-machine" / "anchor.json"
    anchor.parent.mkdir()
    signed = data.cli("audit", "checkpoint", "--export", str(anchor))
    assert signed.exit_code == 0 and "anchor written" in signed.output, signed.output
    kept = json.loads(anchor.read_text())
    assert kept["seq"] == 357 and kept["format"] == "dunpai-audit-anchor-v1"
    log = AuditLog(data.engine, data.keys)
    for i in range(10):
        log.append("emp-1", "case.note", f"default/case/cas_{i}", {})
    assert data.verify("--anchor", str(anchor))["ok"]
    rewrite(data.engine, 200)
    log.checkpoint()  # the intruder also holds the signing key and signs the rewritten head
    assert data.verify()["ok"]  # nothing on the machine can tell
    caught = data.verify("--anchor", str(anchor))
    assert not caught["ok"] and caught["first_bad_seq"] == 357 and "anchor" in caught["problem"]


def test_an_anchor_catches_a_cut_tail(data: DataDir, tmp_path: Path) -> None:
    anchor = tmp_path / "anchor.json"
    assert data.cli("audit", "checkpoint", "--export", str(anchor)).exit_code == 0
    rewrite(data.engine, 300, cut_after=320)
    AuditLog(data.engine, data.keys).checkpoint()
    caught = data.verify("--anchor", str(anchor))
    assert not caught["ok"] and caught["first_bad_seq"] == 321 and "removed" in caught["problem"]


def test_a_forged_anchor_is_refused(data: DataDir, tmp_path: Path) -> None:
    anchor = tmp_path / "anchor.json"
    assert data.cli("audit", "checkpoint", "--export", str(anchor)).exit_code == 0
    forged = json.loads(anchor.read_text())
    forged["signature"] = "00" * 64
    anchor.write_text(json.dumps(forged))
    report = data.verify("--anchor", str(anchor))
    assert not report["ok"] and "signature is invalid" in report["problem"]
    anchor.write_text("{}")
    assert data.cli("audit", "verify", "--anchor", str(anchor)).exit_code == 2
