"""The shared online state: one row per (tenant-prefixed key kind, key), its state as raw doubles."""

from __future__ import annotations

from sqlalchemy import Column, LargeBinary, PrimaryKeyConstraint, String, Table

from dunpai.core.db import metadata

states = Table(
    "risk_state", metadata,
    Column("kind", String(96), nullable=False),
    Column("key", String(256), nullable=False),
    Column("state", LargeBinary),  # NULL: a row made to be locked whose entity has no state yet
    PrimaryKeyConstraint("kind", "key", name="pk_risk_state"),
)
