"""Verify the audit chain: every hash link, every entry hash, every checkpoint signature.

The report names the first broken place in sequence order. What the chain proves, and what it
cannot (rows appended after the last checkpoint can be cut off without trace unless a later
checkpoint or an external copy of the head exists), is written in ``docs/keys.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine, select

from dunpai.audit.chain import (
    CHECKPOINT_FORMAT,
    ENTRY_FORMAT,
    GENESIS,
    AuditEntry,
    checkpoint_message,
    recompute,
    row_to_entry,
)
from dunpai.audit.tables import audit_checkpoints, audit_entries
from dunpai.core.errors import DunpaiError
from dunpai.keys.errors import InvalidSignature, KeyNotFound
from dunpai.keys.store import KeyStore
from dunpai.keys.suites import HASH_NAMES

_PAGE = 5000
Where = Literal["entry", "checkpoint"] | None


class AuditChainBroken(DunpaiError):
    code = "audit_chain_broken"


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    entries: int
    checkpoints: int
    last_seq: int
    last_checkpoint_seq: int | None
    first_bad_seq: int | None = None
    where: Literal["entry", "checkpoint"] | None = None
    problem: str | None = None

    @property
    def unsigned_tail(self) -> int:
        """Entries after the last checkpoint: protected by the hash links only."""
        return self.last_seq - (self.last_checkpoint_seq or 0)

    def raise_for_problem(self) -> None:
        if not self.ok:
            raise AuditChainBroken(f"audit chain broken at {self.where} {self.first_bad_seq}: {self.problem}",
                                   seq=self.first_bad_seq, where=self.where, problem=self.problem)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "checkpoints": self.checkpoints,
                "last_seq": self.last_seq, "last_checkpoint_seq": self.last_checkpoint_seq,
                "unsigned_tail": self.unsigned_tail, "first_bad_seq": self.first_bad_seq,
                "where": self.where, "problem": self.problem}


def _entry_problem(entry: AuditEntry, expected_seq: int, prev_hash: str) -> str | None:
    if entry.seq != expected_seq:
        return f"entry {expected_seq} is missing"
    if entry.format_version != ENTRY_FORMAT or entry.hash_alg not in HASH_NAMES:
        return "unknown entry format or hash algorithm"
    if entry.prev_hash != prev_hash:
        return "link to the previous entry does not match"
    if recompute(entry) != entry.entry_hash:
        return "entry content does not match its hash"
    return None


def _checkpoint_problem(cp: Any, entry: AuditEntry, keystore: KeyStore) -> str | None:
    if int(cp.format_version) != CHECKPOINT_FORMAT:
        return "unknown checkpoint format"
    if cp.head_hash != entry.entry_hash:
        return "checkpoint head does not match the entry"
    message = checkpoint_message(int(cp.seq), cp.head_hash, cp.key_id, cp.signed_at)
    try:
        keystore.verify(cp.key_id, message, bytes(cp.signature))
    except InvalidSignature:
        return "checkpoint signature is invalid"
    except (KeyNotFound, DunpaiError):
        return f"checkpoint signing key {cp.key_id!r} is not available"
    return None


def verify_chain(engine: Engine, keystore: KeyStore, *, checkpoint_every: int | None = None) -> VerifyReport:
    """Walk the chain in order; stop at the first problem. ``checkpoint_every`` also demands the
    periodic checkpoints (so deleting a checkpoint row is noticed)."""
    with engine.connect() as conn:
        checkpoints = {int(r.seq): r for r in conn.execute(select(audit_checkpoints))}
        expected, prev, count, last_cp = 1, GENESIS, 0, None

        def report(seq: int | None, where: Where, problem: str | None) -> VerifyReport:
            return VerifyReport(problem is None, count, len(checkpoints), expected - 1, last_cp,
                                seq, where, problem)

        while True:
            rows = conn.execute(select(audit_entries).where(audit_entries.c.seq >= expected)
                                .order_by(audit_entries.c.seq).limit(_PAGE)).all()
            if not rows:
                break
            for row in rows:
                entry = row_to_entry(row)
                problem = _entry_problem(entry, expected, prev)
                if problem is not None:
                    return report(expected, "entry", problem)
                cp = checkpoints.get(entry.seq)
                if cp is not None:
                    problem = _checkpoint_problem(cp, entry, keystore)
                    if problem is not None:
                        return report(entry.seq, "checkpoint", problem)
                    last_cp = entry.seq
                elif checkpoint_every and entry.seq % checkpoint_every == 0:
                    return report(entry.seq, "checkpoint", "periodic checkpoint is missing")
                prev, expected, count = entry.entry_hash, expected + 1, count + 1
        beyond = sorted(s for s in checkpoints if s >= expected)
        if beyond:
            return report(expected, "entry", f"entries from {expected} were removed (checkpoint {beyond[0]} "
                          "covers them)")
        if any(s < 1 for s in checkpoints):
            return report(min(checkpoints), "checkpoint", "checkpoint for a non-existent entry")
        return report(None, None, None)
