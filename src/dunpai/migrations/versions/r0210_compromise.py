"""Point of compromise (skimmers): card-present uses, terminal flags, exposed and reissued cards.

Revision ID: r0210_compromise
Revises: r0000_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0210_compromise"
down_revision = "r0000_base"
branch_labels = ("compromise",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compromise_visits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("card_id", sa.String(128), nullable=False),
        sa.Column("terminal_id", sa.String(128), nullable=False),
        sa.Column("t", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_compromise_visits"),
    )
    op.create_index("ix_compromise_visits_card_t", "compromise_visits", ["card_id", "t"])
    op.create_index("ix_compromise_visits_terminal_t", "compromise_visits", ["terminal_id", "t"])
    op.create_table(
        "compromise_flags",
        sa.Column("terminal_id", sa.String(128), nullable=False),
        sa.Column("flagged_at", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("window_end", sa.Float(), nullable=False),
        sa.Column("fraud_cards", sa.Integer(), nullable=False),
        sa.Column("window_cards", sa.Integer(), nullable=False),
        sa.Column("base_rate", sa.Float(), nullable=False),
        sa.Column("tests", sa.Integer(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("cleared_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("terminal_id", name="pk_compromise_flags"),
    )
    op.create_table(
        "compromise_exposed",
        sa.Column("card_id", sa.String(128), nullable=False),
        sa.Column("terminal_id", sa.String(128), nullable=False),
        sa.Column("visit_t", sa.Float(), nullable=False),
        sa.Column("exposed_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("card_id", "terminal_id", name="pk_compromise_exposed"),
    )
    op.create_table(
        "compromise_reissued",
        sa.Column("card_id", sa.String(128), nullable=False),
        sa.Column("reissued_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("card_id", name="pk_compromise_reissued"),
    )


def downgrade() -> None:
    op.drop_table("compromise_reissued")
    op.drop_table("compromise_exposed")
    op.drop_table("compromise_flags")
    op.drop_index("ix_compromise_visits_terminal_t", table_name="compromise_visits")
    op.drop_index("ix_compromise_visits_card_t", table_name="compromise_visits")
    op.drop_table("compromise_visits")
