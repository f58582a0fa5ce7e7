"""Evidence bundles: an intact bundle verifies; any byte altered, a file removed or added, the
manifest or its signature edited — each is detected and named. Also through the CLI's exit status."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from dunpai.cli.cases import evidence_app as evidence_cli
from dunpai.core.errors import StateError
from dunpai.risk.cases.bundle import verify_bundle
from dunpai.risk.cases.tables import evidence
from tests.risk.cases.conftest import ANALYST, OTHER_BANK, S1_CUSTOMER, World


@pytest.fixture(scope="module")
def bundle_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Filled by the first test that needs it (exports are a second each)."""
    return tmp_path_factory.mktemp("bundles") / "template"


@pytest.fixture
def bundle(world: World, bundle_template: Path, tmp_path: Path) -> Path:
    if not bundle_template.exists():
        cid = world.case_of(S1_CUSTOMER)
        world.inc.cases.add_footage_ref(ANALYST, cid, camera_id="cam-atm-BI-002", terminal_id="atm-BI-002",
                                        start="2026-03-12T20:36:00+08:00", end="2026-03-12T20:52:00+08:00",
                                        uri="cctv://atm-BI-002/20260312T2036-2052.mp4", sha256="ab" * 32)
        world.inc.export_evidence(ANALYST, cid, bundle_template)
    copy = tmp_path / "bundle"
    shutil.copytree(bundle_template, copy)
    return copy


def test_intact_bundle_verifies(bundle: Path, world: World) -> None:
    report = verify_bundle(bundle, world.inc.signer.public_key() if world.inc.signer else None)
    assert report.ok, report.problems
    manifest = json.loads((bundle / "manifest.json").read_text())
    kinds = {i["kind"] for i in manifest["chain"]["items"]}
    assert {"alert", "event", "decision", "device", "terminal", "footage_ref"} <= kinds
    paths = {f["path"] for f in manifest["files"]}
    assert {"extra/police-report.zh.pdf", "extra/police-report.en.pdf", "extra/case.json"} <= paths
    assert report.files_checked == len(paths)


def _only(problems: tuple[str, ...], fragment: str) -> None:
    assert problems and any(fragment in p for p in problems), problems


def test_byte_flip_is_detected(bundle: Path) -> None:
    target = sorted((bundle / "items").iterdir())[3]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    report = verify_bundle(bundle)
    assert not report.ok
    _only(report.problems, f"items/{target.name}: content changed")


def test_byte_flip_in_the_pdf_is_detected(bundle: Path) -> None:
    pdf = bundle / "extra" / "police-report.zh.pdf"
    data = bytearray(pdf.read_bytes())
    data[100] ^= 0x80
    pdf.write_bytes(bytes(data))
    _only(verify_bundle(bundle).problems, "extra/police-report.zh.pdf: content changed")


def test_removed_file_is_detected(bundle: Path) -> None:
    target = sorted((bundle / "items").iterdir())[0]
    target.unlink()
    _only(verify_bundle(bundle).problems, f"items/{target.name}: missing")


def test_added_file_is_detected(bundle: Path) -> None:
    (bundle / "items" / "9999-event-planted.json").write_text("{}")
    (bundle / "notes.txt").write_text("slipped in")
    problems = verify_bundle(bundle).problems
    _only(problems, "items/9999-event-planted.json: added")
    _only(problems, "notes.txt: added")


def test_manifest_edit_is_detected(bundle: Path) -> None:
    manifest = bundle / "manifest.json"
    text = manifest.read_text()
    item = sorted((bundle / "items").iterdir())[2]
    data = json.loads(text)
    entry = next(f for f in data["files"] if f["path"] == f"items/{item.name}")
    item.write_bytes(item.read_bytes() + b" ")  # change a file and "fix" its hash in the manifest
    import hashlib

    entry["sha256"] = hashlib.sha256(item.read_bytes()).hexdigest()
    entry["size"] += 1
    manifest.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    problems = verify_bundle(bundle).problems
    _only(problems, "manifest.json: the signature does not match")
    _only(problems, "does not match its file")  # and the chain no longer covers the file


def test_manifest_whitespace_edit_is_detected(bundle: Path) -> None:
    manifest = bundle / "manifest.json"
    manifest.write_bytes(manifest.read_bytes() + b"\n")
    assert verify_bundle(bundle).problems == ("manifest.json: the signature does not match (the manifest or "
                                              "manifest.sig was edited)",)


def test_signature_removed_or_edited_is_detected(bundle: Path) -> None:
    sig = bundle / "manifest.sig"
    sig.write_text("AAAA" + sig.read_text()[4:])
    _only(verify_bundle(bundle).problems, "signature does not match")
    sig.unlink()
    _only(verify_bundle(bundle).problems, "manifest.sig: missing")


def test_manifest_removed_or_garbled(bundle: Path) -> None:
    (bundle / "manifest.json").write_text("{not json")
    _only(verify_bundle(bundle).problems, "manifest.json: not a readable")
    (bundle / "manifest.json").unlink()
    assert verify_bundle(bundle).problems == ("manifest.json: missing",)


def test_a_bundle_signed_by_another_key_is_refused_with_the_trusted_key(bundle: Path) -> None:
    report = verify_bundle(bundle, trusted_key=b"\x01" * 32)
    _only(report.problems, "which is not the trusted key")


def test_cli_verify_exit_codes(bundle: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(evidence_cli, ["verify", str(bundle), "--allow-untrusted"])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    target = sorted((bundle / "items").iterdir())[1]
    target.write_bytes(b"x" + target.read_bytes()[1:])
    bad = runner.invoke(evidence_cli, ["verify", str(bundle), "--json"])
    assert bad.exit_code == 1
    report = json.loads(bad.output)
    assert report["ok"] is False and any(target.name in p for p in report["problems"])


def test_tampered_store_refuses_to_export(world: World, tmp_path: Path) -> None:
    cid = world.case_of(S1_CUSTOMER)
    world.inc.cases.collect_evidence(ANALYST, cid)
    with world.risk.db.begin() as conn:
        conn.execute(update(evidence).where(evidence.c.case_id == cid, evidence.c.seq == 2)
                     .values(name="renamed"))
    with pytest.raises(StateError, match="chain is broken"):
        world.inc.export_evidence(ANALYST, cid, tmp_path / "out")


def test_export_refuses_a_non_empty_directory_and_foreign_cases(world: World, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("x")
    cid = world.case_of(S1_CUSTOMER)
    with pytest.raises(StateError):
        world.inc.export_evidence(ANALYST, cid, tmp_path / "out")
    from dunpai.core.errors import NotFound

    with pytest.raises(NotFound):
        world.inc.export_evidence(OTHER_BANK, cid, tmp_path / "other")


def test_cli_export_then_verify(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db_file = Path(str(world.risk.db.url.database))
    with world.risk.db.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(FULL)")
    shutil.copy(db_file, data / "dunpai.db")
    keys = tmp_path / "cli-keys.dpks"
    shutil.copy(world.keystore._path, keys)  # type: ignore[attr-defined]
    monkeypatch.setenv("DUNPAI_KEYSTORE_PASSPHRASE", "test")
    monkeypatch.delenv("DUNPAI_DATABASE_URL", raising=False)
    runner = CliRunner()
    out = tmp_path / "cli-bundle"
    res = runner.invoke(evidence_cli, ["export", world.case_of(S1_CUSTOMER), "--out", str(out), "--data-dir",
                                       str(data), "--path", str(keys)])
    assert res.exit_code == 0, res.output
    trusted = world.keystore.public_key(world.keystore.find("evidence-signing").key_id).hex()
    assert runner.invoke(evidence_cli, ["verify", str(out), "--trusted-key", trusted]).exit_code == 0
    (out / "extra" / "case.json").unlink()
    res = runner.invoke(evidence_cli, ["verify", str(out)])
    assert res.exit_code == 1 and "extra/case.json: missing" in res.output


def test_cli_adds_console_staff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dunpai.cli.cases import staff_app
    from dunpai.core.db import make_engine
    from dunpai.web.staff import authenticate

    monkeypatch.setenv("DUNPAI_STAFF_PASSWORD", "a-long-password")
    monkeypatch.delenv("DUNPAI_DATABASE_URL", raising=False)
    res = CliRunner().invoke(staff_app, ["add", "wang.qiang", "--role", "supervisor", "--data-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    db = make_engine(f"sqlite:///{tmp_path / 'dunpai.db'}")
    assert authenticate(db, "wang.qiang", "a-long-password").role == "supervisor"
    db.dispose()
