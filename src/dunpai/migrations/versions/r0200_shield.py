"""Mobile shield: enrolled device keys and consumed nonces.

Revision ID: r0200_shield
Revises: r0000_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0200_shield"
down_revision = "r0000_base"
branch_labels = ("shield",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shield_devices",
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("enrolled_at", sa.Float(), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.Column("revoked_reason", sa.String(256), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_shield_devices"),
    )
    op.create_index("ix_shield_devices_customer", "shield_devices", ["customer_id"])
    op.create_table(
        "shield_nonces",
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("claimed_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "nonce", name="pk_shield_nonces"),
    )
    op.create_index("ix_shield_nonces_claimed_at", "shield_nonces", ["claimed_at"])


def downgrade() -> None:
    op.drop_index("ix_shield_nonces_claimed_at", table_name="shield_nonces")
    op.drop_table("shield_nonces")
    op.drop_index("ix_shield_devices_customer", table_name="shield_devices")
    op.drop_table("shield_devices")
