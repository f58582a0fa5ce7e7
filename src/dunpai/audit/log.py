"""The append-only, hash-chained audit log with signed checkpoints.

Appending is an I/O edge: the time comes from an injected clock (wall clock by default) or the
caller. Appends are serialised: on PostgreSQL by a transaction-scoped advisory lock, on SQLite by
its single writer; a racing append that still collides on the sequence number is retried.

The head hash is signed with the active version of a key-store signing key (a checkpoint) every
``checkpoint_every`` entries, whenever the last checkpoint is ``checkpoint_interval_s`` old or
older, and whenever ``checkpoint()`` is called (servers call it at shutdown). The interval is 0 by
default: each append signs the head in its own transaction, so the head is always covered and a
rewritten tail cannot pass ``verify`` without the signing key (a signature costs under a
millisecond, and audit entries are administrative acts, not decisions). A high-volume log (the
bridge's crossings) signs by time instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import IntegrityError

from dunpai.audit.chain import (
    CHECKPOINT_FORMAT,
    ENTRY_FORMAT,
    GENESIS,
    AuditEntry,
    check_hash_alg,
    check_text,
    checkpoint_message,
    details_text,
    entry_hash,
    row_to_entry,
    timestamp,
)
from dunpai.audit.tables import audit_checkpoints, audit_entries
from dunpai.audit.verify import VerifyReport, verify_chain
from dunpai.core.errors import StateError
from dunpai.keys.labels import AUDIT_SIGNING
from dunpai.keys.store import KeyStore

Clock = Callable[[], datetime]
_ADVISORY_LOCK_KEY = 0x6475_6E70_6169  # "dunpai"
_APPEND_RETRIES = 20


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class AuditLog:
    def __init__(
        self,
        engine: Engine,
        keystore: KeyStore,
        signing_key_label: str = AUDIT_SIGNING,
        *,
        checkpoint_every: int = 1000,
        hash_alg: str = "sha256",
        clock: Clock = _utc_now,
        checkpoint_interval_s: float = 0.0,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        if checkpoint_interval_s < 0:
            raise ValueError("checkpoint_interval_s must not be negative")
        self._interval = checkpoint_interval_s
        self._last_signed: datetime | None = None
        self._engine = engine
        self._keystore = keystore
        self._label = signing_key_label
        self._every = checkpoint_every
        self._hash_alg = check_hash_alg(hash_alg)
        self._clock = clock

    # -- writing -------------------------------------------------------------------------------

    def append(
        self,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, Any] | None = None,
        *,
        conn: Connection | None = None,
        at: datetime | None = None,
    ) -> int:
        """Append one entry; returns its sequence number.

        Pass ``conn`` to write inside the caller's transaction, so the audited change and its entry
        commit or roll back together. Never put secrets or personal data values in ``details``.
        """
        fields = (check_text("actor", actor), check_text("action", action), check_text("subject", subject),
                  details_text(details or {}))
        if conn is not None:
            return self._append_txn(conn, fields, at)
        for _ in range(_APPEND_RETRIES):
            try:
                with self._engine.begin() as own:
                    return self._append_txn(own, fields, at)
            except IntegrityError:
                continue  # another writer took this sequence number; read the new head and retry
        raise StateError("could not append to the audit log (contention)")

    def _lock(self, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})

    def _head(self, conn: Connection) -> AuditEntry | None:
        row = conn.execute(select(audit_entries).order_by(audit_entries.c.seq.desc()).limit(1)).first()
        return None if row is None else row_to_entry(row)

    def _append_txn(self, conn: Connection, fields: tuple[str, str, str, str], at: datetime | None) -> int:
        actor, action, subject, details = fields
        self._lock(conn)
        head = self._head(conn)
        seq = 1 if head is None else head.seq + 1
        prev = GENESIS if head is None else head.entry_hash
        recorded_at = timestamp(at or self._clock())
        digest = entry_hash(seq, self._hash_alg, prev, recorded_at, actor, action, subject, details)
        conn.execute(audit_entries.insert().values(
            seq=seq, format_version=ENTRY_FORMAT, hash_alg=self._hash_alg, prev_hash=prev, entry_hash=digest,
            recorded_at=recorded_at, actor=actor, action=action, subject=subject, details=details,
        ))
        if seq % self._every == 0 or self._due(conn):
            self._checkpoint_txn(conn)
        return seq

    def _due(self, conn: Connection) -> bool:
        """Whether the last checkpoint is ``checkpoint_interval_s`` old (always, for interval 0)."""
        if self._interval <= 0:
            return True
        if self._last_signed is None:
            row = conn.execute(select(audit_checkpoints.c.signed_at)
                               .order_by(audit_checkpoints.c.seq.desc()).limit(1)).first()
            if row is None:  # never signed: the chain's first entry starts the clock
                row = conn.execute(select(audit_entries.c.recorded_at.label("signed_at"))
                                   .order_by(audit_entries.c.seq).limit(1)).first()
            if row is None:
                return False
            self._last_signed = _parse(row.signed_at)
        return (self._clock() - self._last_signed).total_seconds() >= self._interval

    def checkpoint(self, *, conn: Connection | None = None) -> int | None:
        """Sign the current head; returns the sequence number covered (``None`` for an empty log)."""
        if conn is not None:
            return self._checkpoint_txn(conn)
        with self._engine.begin() as own:
            return self._checkpoint_txn(own)

    def _checkpoint_txn(self, conn: Connection) -> int | None:
        self._lock(conn)
        head = self._head(conn)
        if head is None:
            return None
        done = conn.execute(
            select(audit_checkpoints.c.seq).where(audit_checkpoints.c.seq == head.seq)
        ).first()
        if done is not None:
            return head.seq
        key = self._keystore.find(self._label)
        now = self._clock()
        self._last_signed = now
        signed_at = timestamp(now)
        signature = self._keystore.sign(key.key_id, checkpoint_message(head.seq, head.entry_hash, key.key_id,
                                                                       signed_at))
        conn.execute(audit_checkpoints.insert().values(
            seq=head.seq, format_version=CHECKPOINT_FORMAT, head_hash=head.entry_hash, key_id=key.key_id,
            signed_at=signed_at, signature=signature,
        ))
        return head.seq

    # -- reading -------------------------------------------------------------------------------

    def entries(self, after: int = 0, limit: int = 100) -> list[AuditEntry]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(audit_entries).where(audit_entries.c.seq > after)
                                .order_by(audit_entries.c.seq).limit(limit))
            return [row_to_entry(r) for r in rows]

    def verify(self) -> VerifyReport:
        """Check the whole chain and every checkpoint signature (see ``verify_chain``)."""
        return verify_chain(self._engine, self._keystore, checkpoint_every=self._every)
