"""The analyst console's saved queue views, and rule changes awaiting a second person's approval.

Revision ID: r0310_console
Revises: r0300_cases
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0310_console"
down_revision = "r0300_cases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_saved_views",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "owner", "name", name="pk_console_saved_views"),
    )
    op.create_table(
        "case_rule_changes",
        sa.Column("change_id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("base_version", sa.String(length=64), nullable=False),
        sa.Column("draft_version", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("submitted_by", sa.String(length=64), nullable=False),
        sa.Column("submitted_at", sa.Float(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("change_id", name="pk_case_rule_changes"),
    )
    op.create_index("ix_case_rule_changes_tenant_status", "case_rule_changes", ["tenant", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_case_rule_changes_tenant_status", table_name="case_rule_changes")
    op.drop_table("case_rule_changes")
    op.drop_table("console_saved_views")
