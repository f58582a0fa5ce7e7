"""Audit tables. Entries are append-only: nothing in Dunpai updates or deletes a row.

Values that are hashed are stored as text exactly as they were hashed (canonical JSON details, ISO
timestamps), so no database type conversion can change them and verification recomputes the very
bytes that were chained.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, LargeBinary, SmallInteger, String, Table, Text

from dunpai.core.db import metadata

audit_entries = Table(
    "audit_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("format_version", SmallInteger, nullable=False),
    Column("hash_alg", String(16), nullable=False),
    Column("prev_hash", String(128), nullable=False),
    Column("entry_hash", String(128), nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(200), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("details", Text, nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("format_version", SmallInteger, nullable=False),
    Column("head_hash", String(128), nullable=False),
    Column("key_id", String(100), nullable=False),
    Column("signed_at", String(40), nullable=False),
    Column("signature", LargeBinary, nullable=False),
)
