"""Point of compromise: an exposed card carries its graded exposure (1 at a flagged terminal, below 1
for an early warning before the terminal's evidence is conclusive).

Revision ID: r0211_compromise_exposure
Revises: r0210_compromise
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0211_compromise_exposure"
down_revision = "r0210_compromise"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compromise_exposed") as batch:
        batch.add_column(sa.Column("exposure", sa.Float(), nullable=False, server_default="1.0"))


def downgrade() -> None:
    with op.batch_alter_table("compromise_exposed") as batch:
        batch.drop_column("exposure")
