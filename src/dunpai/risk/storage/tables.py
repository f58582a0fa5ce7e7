"""Tables of the risk part: the durable event log, decisions, rulesets, history imports and API keys."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from dunpai.core.db import metadata

events = Table(
    "risk_events", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("event_time", Float, nullable=False),
    Column("body", Text, nullable=False),
    Column("body_sha256", String(64), nullable=False),
    Column("card_masked", String(32)),
    Column("received_at", Float, nullable=False),
    UniqueConstraint("tenant", "event_id", name="uq_risk_events_tenant_event"),
    Index("ix_risk_events_tenant_seq", "tenant", "seq"),
)

decisions = Table(
    "risk_decisions", metadata,
    Column("decision_id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("event_time", Float, nullable=False),
    Column("action", String(16), nullable=False),
    Column("score", Integer, nullable=False),
    Column("record", Text, nullable=False),
    UniqueConstraint("tenant", "event_id", name="uq_risk_decisions_tenant_event"),
    Index("ix_risk_decisions_tenant_time", "tenant", "event_time"),
)

rulesets = Table(
    "risk_rulesets", metadata,
    Column("tenant", String(64), nullable=False),
    Column("version", String(32), nullable=False),
    Column("name", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("source", Text, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("published_at", Float),
    PrimaryKeyConstraint("tenant", "version", name="pk_risk_rulesets"),
)

imports = Table(
    "risk_imports", metadata,
    Column("import_id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("source_name", String(256), nullable=False),
    Column("source_sha256", String(64), nullable=False),
    Column("mapping_sha256", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("labels", BigInteger, nullable=False),
    Column("duplicates", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("first_seq", BigInteger),
    Column("last_seq", BigInteger),
    Column("started_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

api_keys = Table(
    "api_keys", metadata,
    Column("key_sha256", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
)
