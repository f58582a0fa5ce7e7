"""Verify the audit chain: every hash link, every entry hash, every checkpoint signature.

The report names the first broken place in sequence order. What the chain proves, and what it
cannot (rows appended after the last checkpoint can be cut off without trace unless a later
checkpoint or an external copy of the head exists), is written in ``docs/keys.md``.

Two checks close the gap of a rewritten tail (rewrite an entry, re-hash everything after it,
delete the checkpoints that covered it): ``max_unsigned_tail`` fails the chain when its head is
not covered by a signed checkpoint (every append signs the head by default, so a chain whose head
is unsigned was cut or rewritten), and an ``Anchor`` — a checkpoint exported with
``dunpai audit checkpoint --export`` and kept off the machine — must still match the entry it
signed, so even someone holding the signing key cannot rewrite what the anchor covers unnoticed.
"""

from __future__ import annotations

import json
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
from dunpai.core.errors import DunpaiError, FieldProblem, InvalidInput
from dunpai.keys.errors import InvalidSignature, KeyNotFound
from dunpai.keys.store import KeyStore
from dunpai.keys.suites import HASH_NAMES

_PAGE = 5000
Where = Literal["entry", "checkpoint"] | None


class AuditChainBroken(DunpaiError):
    code = "audit_chain_broken"


ANCHOR_FORMAT = "dunpai-audit-anchor-v1"


@dataclass(frozen=True)
class Anchor:
    """A signed checkpoint kept off the machine: (seq, head hash) signed by the audit key."""

    seq: int
    head_hash: str
    key_id: str
    signed_at: str
    signature: bytes

    def to_json(self) -> str:
        return json.dumps({"format": ANCHOR_FORMAT, "seq": self.seq, "head_hash": self.head_hash,
                           "key_id": self.key_id, "signed_at": self.signed_at, "signature": self.signature.hex()},
                          indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Anchor:
        try:
            raw = json.loads(text)
            if raw.get("format") != ANCHOR_FORMAT:
                raise ValueError(f"not a {ANCHOR_FORMAT} file")
            return cls(int(raw["seq"]), str(raw["head_hash"]), str(raw["key_id"]), str(raw["signed_at"]),
                       bytes.fromhex(raw["signature"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidInput("not an audit anchor", problems=[FieldProblem("anchor", str(exc)[:200])]) from None


def read_anchor(engine: Engine, seq: int) -> Anchor | None:
    """The stored checkpoint at ``seq`` as an anchor to export."""
    with engine.connect() as conn:
        cp = conn.execute(select(audit_checkpoints).where(audit_checkpoints.c.seq == seq)).first()
    if cp is None:
        return None
    return Anchor(int(cp.seq), cp.head_hash, cp.key_id, cp.signed_at, bytes(cp.signature))


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


def verify_chain(engine: Engine, keystore: KeyStore, *, checkpoint_every: int | None = None,
                 max_unsigned_tail: int | None = None, anchor: Anchor | None = None) -> VerifyReport:
    """Walk the chain in order; stop at the first problem. ``checkpoint_every`` also demands the
    periodic checkpoints (so deleting a checkpoint row is noticed); ``max_unsigned_tail`` the most
    entries allowed after the last signed checkpoint (0: the head must be signed); ``anchor`` a
    checkpoint kept off the machine that the chain must still contain."""
    report = _walk(engine, keystore, checkpoint_every, anchor)
    if not report.ok:
        return report
    if anchor is not None:
        problem = _anchor_problem(anchor, keystore)
        if problem is not None:
            return _failed(report, anchor.seq, "checkpoint", problem)
    if max_unsigned_tail is not None and report.unsigned_tail > max_unsigned_tail:
        first = (report.last_checkpoint_seq or 0) + 1
        return _failed(report, first, "checkpoint", f"entries {first} to {report.last_seq} are not covered by a "
                       "signed checkpoint (a signed head was removed, or the tail was rewritten)")
    return report


def _failed(report: VerifyReport, seq: int, where: Literal["entry", "checkpoint"], problem: str) -> VerifyReport:
    return VerifyReport(False, report.entries, report.checkpoints, report.last_seq, report.last_checkpoint_seq,
                        seq, where, problem)


def _anchor_problem(anchor: Anchor, keystore: KeyStore) -> str | None:
    message = checkpoint_message(anchor.seq, anchor.head_hash, anchor.key_id, anchor.signed_at)
    try:
        keystore.verify(anchor.key_id, message, anchor.signature)
    except InvalidSignature:
        return "the anchor's signature is invalid"
    except (KeyNotFound, DunpaiError):
        return f"the anchor's signing key {anchor.key_id!r} is not available"
    return None


def _walk(engine: Engine, keystore: KeyStore, checkpoint_every: int | None, anchor: Anchor | None) -> VerifyReport:
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
                if anchor is not None and entry.seq == anchor.seq and entry.entry_hash != anchor.head_hash:
                    return report(entry.seq, "entry", "the chain up to here differs from the anchor kept off the "
                                  "machine (history rewritten)")
                prev, expected, count = entry.entry_hash, expected + 1, count + 1
        if anchor is not None and anchor.seq >= expected:
            return report(expected, "entry", f"entries from {expected} were removed (the anchor kept off the "
                          f"machine covers entry {anchor.seq})")
        beyond = sorted(s for s in checkpoints if s >= expected)
        if beyond:
            return report(expected, "entry", f"entries from {expected} were removed (checkpoint {beyond[0]} "
                          "covers them)")
        if any(s < 1 for s in checkpoints):
            return report(min(checkpoints), "checkpoint", "checkpoint for a non-existent entry")
        return report(None, None, None)
