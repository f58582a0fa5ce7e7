"""Risk core: event log, decisions, rulesets, API keys.

Revision ID: r0010_risk_core
Revises: r0000_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0010_risk_core"
down_revision = "r0000_base"
branch_labels = ("risk",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("event_time", sa.Float, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("card_masked", sa.String(32)),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.UniqueConstraint("tenant", "event_id", name="uq_risk_events_tenant_event"),
    )
    op.create_table(
        "risk_decisions",
        sa.Column("decision_id", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("event_time", sa.Float, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.UniqueConstraint("tenant", "event_id", name="uq_risk_decisions_tenant_event"),
    )
    op.create_index("ix_risk_decisions_tenant_time", "risk_decisions", ["tenant", "event_time"])
    op.create_table(
        "risk_rulesets",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("published_at", sa.Float),
        sa.PrimaryKeyConstraint("tenant", "version", name="pk_risk_rulesets"),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_sha256", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
    )


def downgrade() -> None:
    for name in ("api_keys", "risk_rulesets", "risk_decisions", "risk_events"):
        op.drop_table(name)
