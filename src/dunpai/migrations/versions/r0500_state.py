"""Shared online state: each entity's state as a row, locked by the decision that updates it.

Revision ID: r0500_state
Revises: r0000_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0500_state"
down_revision = "r0000_base"
branch_labels = ("state",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_state",
        sa.Column("kind", sa.String(96), nullable=False),
        sa.Column("key", sa.String(256), nullable=False),
        sa.Column("state", sa.LargeBinary()),
        sa.PrimaryKeyConstraint("kind", "key", name="pk_risk_state"),
    )


def downgrade() -> None:
    op.drop_table("risk_state")
