"""Console sign-in failures per user name (back-off and lock-out that survive a restart).

Revision ID: r0400_signin
Revises: r0000_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0400_signin"
down_revision = "r0000_base"
branch_labels = ("signin",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_signin_failures",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.Float(), nullable=False),
        sa.Column("last_failed_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("username", name="pk_console_signin_failures"),
    )


def downgrade() -> None:
    op.drop_table("console_signin_failures")
