"""Case management: cases, alerts, account actions, evidence, notices, disputes, reserve ledger,
and the analyst console's staff users and sessions.

Revision ID: r0300_cases
Revises: r0000_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0300_cases"
down_revision = "r0000_base"
branch_labels = ("cases",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_account_actions",
        sa.Column("action_id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=True),
        sa.Column("requested_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("action_id", name="pk_case_account_actions"),
    )
    op.create_index("ix_case_account_actions_tenant_status", "case_account_actions", ["tenant", "status"], unique=False)
    op.create_table(
        "case_account_states",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", sa.Float(), nullable=False),
        sa.Column("action_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "target_kind", "target_id", name="pk_case_account_states"),
    )
    op.create_table(
        "case_alerts",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("raised_at", sa.Float(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "alert_id", name="pk_case_alerts"),
    )
    op.create_index("ix_case_alerts_case", "case_alerts", ["tenant", "case_id"], unique=False)
    op.create_table(
        "case_attachments",
        sa.Column("attachment_id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("evidence_seq", sa.Integer(), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("attachment_id", name="pk_case_attachments"),
    )
    op.create_index("ix_case_attachments_case", "case_attachments", ["tenant", "case_id"], unique=False)
    op.create_table(
        "case_cases",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("group_kind", sa.String(length=16), nullable=False),
        sa.Column("group_key", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("amount_at_risk", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("opened_at", sa.Float(), nullable=False),
        sa.Column("due_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("closed_at", sa.Float(), nullable=True),
        sa.Column("conclusion", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("case_id", name="pk_case_cases"),
    )
    op.create_index("ix_case_cases_tenant_group", "case_cases", ["tenant", "group_kind", "group_key"], unique=False)
    op.create_index("ix_case_cases_tenant_status", "case_cases", ["tenant", "status"], unique=False)
    op.create_table(
        "case_disputes",
        sa.Column("dispute_id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("claimed", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("dispute_id", name="pk_case_disputes"),
    )
    op.create_index("ix_case_disputes_case", "case_disputes", ["tenant", "case_id"], unique=False)
    op.create_table(
        "case_entities",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "case_id", "kind", "key", name="pk_case_entities"),
    )
    op.create_index("ix_case_entities_key", "case_entities", ["tenant", "kind", "key"], unique=False)
    op.create_table(
        "case_evidence",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("item_hash", sa.String(length=64), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "case_id", "seq", name="pk_case_evidence"),
    )
    op.create_table(
        "case_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_case_history"),
    )
    op.create_index("ix_case_history_case", "case_history", ["tenant", "case_id"], unique=False)
    op.create_table(
        "case_ledger_lines",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("debit", sa.BigInteger(), nullable=False),
        sa.Column("credit", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("dispute_id", sa.String(length=64), nullable=True),
        sa.Column("case_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "entry_id", "line", name="pk_case_ledger_lines"),
    )
    op.create_table(
        "case_notices",
        sa.Column("notice_id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.String(length=128), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("notice_id", name="pk_case_notices"),
    )
    op.create_index("ix_case_notices_case", "case_notices", ["tenant", "case_id"], unique=False)
    op.create_table(
        "console_sessions",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("token_sha256", name="pk_console_sessions"),
    )
    op.create_table(
        "console_staff",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("disabled_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("username", name="pk_console_staff"),
    )


def downgrade() -> None:
    op.drop_table("console_staff")
    op.drop_table("console_sessions")
    op.drop_index("ix_case_notices_case", table_name="case_notices")
    op.drop_table("case_notices")
    op.drop_table("case_ledger_lines")
    op.drop_index("ix_case_history_case", table_name="case_history")
    op.drop_table("case_history")
    op.drop_table("case_evidence")
    op.drop_index("ix_case_entities_key", table_name="case_entities")
    op.drop_table("case_entities")
    op.drop_index("ix_case_disputes_case", table_name="case_disputes")
    op.drop_table("case_disputes")
    op.drop_index("ix_case_cases_tenant_status", table_name="case_cases")
    op.drop_index("ix_case_cases_tenant_group", table_name="case_cases")
    op.drop_table("case_cases")
    op.drop_index("ix_case_attachments_case", table_name="case_attachments")
    op.drop_table("case_attachments")
    op.drop_index("ix_case_alerts_case", table_name="case_alerts")
    op.drop_table("case_alerts")
    op.drop_table("case_account_states")
    op.drop_index("ix_case_account_actions_tenant_status", table_name="case_account_actions")
    op.drop_table("case_account_actions")
