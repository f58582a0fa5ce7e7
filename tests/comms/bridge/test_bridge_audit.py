"""The bridge's crossing audit in the platform audit chain (dunpai.audit): metadata only, signed
checkpoints, and edits, removals and forged checkpoints are detected."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, update

from dunpai.audit.tables import audit_checkpoints, audit_entries
from dunpai.comms.bridge.audit import AUDIT_KEY, CrossingLog
from tests.comms.bridge.test_bridge_federation import crossing_log


def _filled(tmp: Path, n: int = 10) -> CrossingLog:
    log = crossing_log(tmp)  # checkpoint every 8 entries
    for i in range(n):
        log.record(1_800_000_000.0 + i, "send", "wang@private", "li@public", "message", 512 + i,
                   "allowed" if i % 3 else "refused", "" if i % 3 else "forbidden")
    return log


def test_crossings_are_entries_of_the_signed_audit_chain(tmp_path: Path) -> None:
    log = _filled(tmp_path)
    log.record(1_800_000_100.0, "media_leave", "li@public", "convoy", "ptt", 3640, "allowed", "",
               frames_up=40, frames_down=40)
    report = log.verify()
    assert report.ok and report.entries == 11 and report.last_checkpoint_seq == 8
    entries = log.entries()
    assert entries[0] == {"seq": 1, "op": "send", "from": "wang@private", "to": "li@public", "service": "message",
                          "bytes": 512, "decision": "refused", "reason": "forbidden"}
    assert entries[-1]["frames_up"] == 40 and entries[-1]["op"] == "media_leave"
    raw = log.audit.entries(0, 1)[0]
    assert raw.action == "bridge.send" and raw.recorded_at == "2027-01-15T08:00:00.000000Z"
    assert log.audit._keystore.find(AUDIT_KEY).kind == "ed25519"  # checkpoints signed by the bridge's key
    # a network address never goes into the chain
    with pytest.raises(ValueError, match="network address"):
        log.record(1.0, "send", "wang@private", "10.0.0.7", "message", 1, "allowed")
    with pytest.raises(ValueError, match="network address"):
        log.record(1.0, "send", "wang@private", "li@public", "message", 1, "refused", "from ws://host")
    assert log.verify().entries == 11


@pytest.mark.parametrize("tamper", ["edit_details", "edit_actor", "remove_middle", "remove_tail_after_cp",
                                    "forge_checkpoint"])
def test_tampering_with_the_crossing_audit_is_detected(tmp_path: Path, tamper: str) -> None:
    log = _filled(tmp_path)
    log.checkpoint()  # sign the head (entry 10) too
    engine = log.audit._engine
    with engine.begin() as c:
        if tamper == "edit_details":  # hide that a crossing was refused
            c.execute(update(audit_entries).where(audit_entries.c.seq == 4).values(
                details='{"bytes":515,"decision":"allowed","reason":"","service":"message"}'))
        elif tamper == "edit_actor":
            c.execute(update(audit_entries).where(audit_entries.c.seq == 2).values(actor="eve@private"))
        elif tamper == "remove_middle":
            c.execute(delete(audit_entries).where(audit_entries.c.seq == 5))
        elif tamper == "remove_tail_after_cp":
            c.execute(delete(audit_entries).where(audit_entries.c.seq >= 9))
        else:
            c.execute(update(audit_checkpoints).where(audit_checkpoints.c.seq == 8).values(signature=b"\0" * 64))
    report = log.verify()
    assert not report.ok
    expected = {"edit_details": 4, "edit_actor": 2, "remove_middle": 5, "remove_tail_after_cp": 9,
                "forge_checkpoint": 8}[tamper]
    assert report.first_bad_seq == expected, report


def test_dunpai_audit_verify_checks_the_bridge_chain(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dunpai.cli.audit import app

    log = _filled(tmp_path)
    args = ["verify", "--database-url", f"sqlite:///{tmp_path / 'bridge-audit.db'}",
            "--path", str(tmp_path / "bridge-keys.dks")]
    unsigned = CliRunner().invoke(app, args, env={"DUNPAI_KEYSTORE_PASSPHRASE": "bridge test"})
    assert unsigned.exit_code == 1 and "not covered" in unsigned.output  # a running bridge signs by count and time
    args += ["--allow-unsigned-tail", "8"]
    env = {"DUNPAI_KEYSTORE_PASSPHRASE": "bridge test"}
    ok = CliRunner().invoke(app, args, env=env)
    assert ok.exit_code == 0 and "10 entries" in ok.output, ok.output
    with log.audit._engine.begin() as c:
        c.execute(update(audit_entries).where(audit_entries.c.seq == 3).values(subject="zhao@public"))
    broken = CliRunner().invoke(app, args, env=env)
    assert broken.exit_code == 1 and "BROKEN at entry 3" in broken.output, broken.output


@pytest.mark.services
def test_crossing_audit_on_postgresql(tmp_path: Path) -> None:
    from dunpai.comms.bridge.audit import open_crossing_log
    from dunpai.keys import Argon2Params, open_keystore
    from tests.pg import temporary_schema

    with temporary_schema("t_bridge_audit") as engine:
        with engine.connect() as c:  # the fresh schema; the bridge's URL names it as search_path
            name = c.exec_driver_sql("SELECT current_schema()").scalar_one()
        store = open_keystore("software", path=tmp_path / "k.dks", passphrase="pg", create=True,
                              argon2=Argon2Params(1, 1024, 1))
        log = open_crossing_log(f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{name}", store,
                                checkpoint_every=2)
        for i in range(3):
            log.record(1_800_000_000.0 + i, "group", "li@public", "convoy", "message", 900, "allowed")
        assert log.verify().ok and log.verify().checkpoints == 1
        with log.audit._engine.begin() as c:
            c.execute(update(audit_entries).where(audit_entries.c.seq == 1).values(actor="eve@private"))
        assert log.verify().first_bad_seq == 1
        log.audit._engine.dispose()
        store.close()
