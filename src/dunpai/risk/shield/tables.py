"""Tables of the mobile shield: enrolled device keys and consumed nonces (migration r0200_shield)."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, LargeBinary, String, Table, Text

from dunpai.core.db import metadata

shield_devices = Table(
    "shield_devices",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("device_id", String(128), nullable=False),
    Column("algorithm", String(16), nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("enrolled_at", Float, nullable=False),
    Column("facts", Text, nullable=False, default="{}"),
    Column("revoked_at", Float, nullable=True),
    Column("revoked_reason", String(256), nullable=True),
    Index("ix_shield_devices_customer", "customer_id"),
)

shield_nonces = Table(
    "shield_nonces",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("nonce", String(128), primary_key=True),
    Column("event_id", String(128), nullable=False),
    Column("claimed_at", Float, nullable=False),
    Index("ix_shield_nonces_claimed_at", "claimed_at"),
)
