"""The audit chain on SQLite and PostgreSQL: appends, checkpoints, and every kind of tampering."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select, update

from dunpai.audit import AuditChainBroken, AuditLog
from dunpai.audit.tables import audit_checkpoints, audit_entries
from dunpai.core.errors import InvalidInput
from dunpai.keys import KeyStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ticking_clock() -> tuple[list[datetime], Callable[[], datetime]]:
    now = [T0]

    def clock() -> datetime:
        now[0] += timedelta(seconds=1)
        return now[0]

    return now, clock


def filled(engine: Engine, keystore: KeyStore, n: int = 10, every: int = 4) -> AuditLog:
    _, clock = ticking_clock()
    # Signed by count only (an hour's interval never passes on this clock): what the tests below tamper with.
    log = AuditLog(engine, keystore, "audit-signing", checkpoint_every=every, clock=clock, checkpoint_interval_s=3600)
    for i in range(1, n + 1):
        log.append(f"emp-{i % 3}", "account.freeze", f"account:{i}", {"reason": "测试 fraud", "n": i})
    return log


def test_appends_chain_and_verify(engine: Engine, keystore: KeyStore) -> None:
    log = filled(engine, keystore)
    report = log.verify()
    assert report.ok and report.entries == 10
    assert report.checkpoints == 2 and report.last_checkpoint_seq == 8 and report.unsigned_tail == 2
    entries = log.entries()
    assert [e.seq for e in entries] == list(range(1, 11))
    assert entries[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(entries))
    assert entries[0].recorded_at == "2026-03-01T12:00:01.000000Z"
    assert entries[0].details_dict == {"n": 1, "reason": "测试 fraud"}
    assert log.checkpoint() == 10
    assert log.verify().unsigned_tail == 0
    report.raise_for_problem()  # ok: does not raise


def test_empty_log_verifies(engine: Engine, keystore: KeyStore) -> None:
    log = AuditLog(engine, keystore)
    assert log.checkpoint() is None
    report = log.verify()
    assert report.ok and report.entries == 0


COLUMNS = ["prev_hash", "entry_hash", "recorded_at", "actor", "action", "subject", "details", "hash_alg"]


@pytest.mark.parametrize("column", COLUMNS)
def test_editing_any_column_names_the_entry(engine: Engine, keystore: KeyStore, column: str) -> None:
    log = filled(engine, keystore)
    with engine.begin() as conn:
        old = conn.execute(select(audit_entries.c[column]).where(audit_entries.c.seq == 6)).scalar_one()
        new = ("sm3" if old == "sha256" else "sha256") if column == "hash_alg" else old[:-1] + (
            "0" if old[-1] != "0" else "1")
        conn.execute(update(audit_entries).where(audit_entries.c.seq == 6).values({column: new}))
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 6 and report.where == "entry"
    with pytest.raises(AuditChainBroken, match="entry 6"):
        report.raise_for_problem()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=st.integers(1, 10), column=st.sampled_from(COLUMNS[:-1]), pos=st.integers(0, 200),
       char=st.characters(codec="utf-8", exclude_categories=("Cs",)))
def test_any_changed_character_is_detected(engine: Engine, keystore: KeyStore, seq: int, column: str,
                                           pos: int, char: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(audit_checkpoints))
        conn.execute(delete(audit_entries))
    log = filled(engine, keystore)
    with engine.begin() as conn:
        old = conn.execute(select(audit_entries.c[column]).where(audit_entries.c.seq == seq)).scalar_one()
        i = pos % len(old)
        new = old[:i] + char + old[i + 1 :]
        if new == old:
            return
        conn.execute(update(audit_entries).where(audit_entries.c.seq == seq).values({column: new}))
    report = log.verify()
    assert (report.ok, report.first_bad_seq) == (False, seq)


def test_deleted_entry_is_named(engine: Engine, keystore: KeyStore) -> None:
    log = filled(engine, keystore)
    with engine.begin() as conn:
        conn.execute(delete(audit_entries).where(audit_entries.c.seq == 3))
    report = log.verify()
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 3, "entry 3 is missing")


def test_cut_tail_is_caught_by_checkpoint(engine: Engine, keystore: KeyStore) -> None:
    log = filled(engine, keystore, n=8)  # checkpoint at 8
    with engine.begin() as conn:
        conn.execute(delete(audit_entries).where(audit_entries.c.seq >= 7))
    report = log.verify()
    assert (report.ok, report.first_bad_seq) == (False, 7)


def test_rewritten_history_fails_the_signed_checkpoint(engine: Engine, keystore: KeyStore) -> None:
    """An attacker who recomputes every hash after an edit still cannot forge the checkpoint."""
    from dunpai.audit.chain import entry_hash

    log = filled(engine, keystore, n=8)
    with engine.begin() as conn:
        rows = conn.execute(select(audit_entries).order_by(audit_entries.c.seq)).all()
        prev = rows[4].prev_hash
        for row in rows[4:]:
            subject = "account:forged" if row.seq == 5 else row.subject
            h = entry_hash(row.seq, row.hash_alg, prev, row.recorded_at, row.actor, row.action, subject,
                           row.details)
            conn.execute(update(audit_entries).where(audit_entries.c.seq == row.seq)
                         .values(subject=subject, prev_hash=prev, entry_hash=h))
            prev = h
    report = log.verify()
    assert (report.ok, report.where, report.first_bad_seq) == (False, "checkpoint", 8)


@pytest.mark.parametrize("change", ["signature", "head_hash", "signed_at", "key_id"])
def test_tampered_checkpoint_is_named(engine: Engine, keystore: KeyStore, change: str) -> None:
    log = filled(engine, keystore)
    with engine.begin() as conn:
        row = conn.execute(select(audit_checkpoints).where(audit_checkpoints.c.seq == 4)).one()
        values = {
            "signature": bytes(row.signature[:-1]) + bytes([row.signature[-1] ^ 1]),
            "head_hash": "f" * 64,
            "signed_at": "2030-01-01T00:00:00.000000Z",
            "key_id": "audit-signing/v9",
        }
        conn.execute(update(audit_checkpoints).where(audit_checkpoints.c.seq == 4)
                     .values({change: values[change]}))
    report = log.verify()
    assert (report.ok, report.where, report.first_bad_seq) == (False, "checkpoint", 4)


def test_deleted_periodic_checkpoint_is_noticed(engine: Engine, keystore: KeyStore) -> None:
    log = filled(engine, keystore)
    with engine.begin() as conn:
        conn.execute(delete(audit_checkpoints).where(audit_checkpoints.c.seq == 4))
    report = log.verify()
    assert (report.ok, report.where, report.first_bad_seq) == (False, "checkpoint", 4)


def test_signing_key_rotation_keeps_old_checkpoints_valid(engine: Engine, keystore: KeyStore) -> None:
    log = filled(engine, keystore, n=4)
    keystore.rotate("audit-signing")
    for i in range(4):
        log.append("admin", "rules.publish", f"ruleset:{i}", {})
    assert log.verify().ok
    with engine.connect() as conn:
        rows = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq))
        key_ids = [r.key_id for r in rows]
    assert key_ids == ["audit-signing/v1", "audit-signing/v2"]
    keystore.destroy("audit-signing/v1")
    report = log.verify()
    assert (report.ok, report.where, report.first_bad_seq) == (False, "checkpoint", 4)


def test_sm3_chain_verifies(engine: Engine, keystore: KeyStore) -> None:
    log = AuditLog(engine, keystore, hash_alg="sm3", checkpoint_every=2)
    for i in range(5):
        log.append("emp-1", "pii.reveal.granted", f"customer:{i}", {"i": i})
    assert log.entries()[0].hash_alg == "sm3"
    assert log.verify().ok


def test_append_in_callers_transaction_rolls_back_with_it(engine: Engine, keystore: KeyStore) -> None:
    log = AuditLog(engine, keystore)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        log.append("admin", "account.freeze", "account:1", {}, conn=conn)
        raise RuntimeError("the audited change failed")
    assert log.entries() == []
    assert log.append("admin", "account.freeze", "account:1", {}) == 1


@pytest.mark.parametrize("details", [{"x": float("nan")}, {"x": object()}, {1: "a"}])
def test_bad_details_are_refused(engine: Engine, keystore: KeyStore, details: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInput):
        AuditLog(engine, keystore).append("a", "b", "c", details)


def test_bad_text_fields_and_naive_time_are_refused(engine: Engine, keystore: KeyStore) -> None:
    log = AuditLog(engine, keystore)
    with pytest.raises(InvalidInput):
        log.append("", "b", "c")
    with pytest.raises(InvalidInput):
        log.append("a", "b", "c", at=datetime(2026, 1, 1))  # naive on purpose


def test_concurrent_appends_stay_one_chain(engine: Engine, keystore: KeyStore) -> None:
    log = AuditLog(engine, keystore, checkpoint_every=10)
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for i in range(10):
                log.append(f"worker-{w}", "test.append", f"item:{i}", {})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = log.verify()
    assert report.ok and report.entries == 40 and report.checkpoints == 40  # each append signs its head


def test_a_quiet_log_is_signed_by_time_not_only_by_count(engine: Engine, keystore: KeyStore) -> None:
    now = [T0]
    log = AuditLog(engine, keystore, "audit-signing", checkpoint_every=1000, clock=lambda: now[0],
                   checkpoint_interval_s=60)
    for i in range(3):  # within the minute: no checkpoint yet (the count is far off too)
        now[0] += timedelta(seconds=10)
        log.append("admin", "apikey.create", f"key:{i}", {})
    assert log.verify().unsigned_tail == 3
    now[0] += timedelta(seconds=61)
    log.append("admin", "apikey.revoke", "key:0", {})  # the first entry after the interval signs the head
    report = log.verify()
    assert report.ok and report.last_checkpoint_seq == 4 and report.unsigned_tail == 0
