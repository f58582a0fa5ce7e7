"""Risk history imports: one row per imported source, so a re-run is idempotent and an
interrupted import resumes where it stopped.

Revision ID: r0020_risk_imports
Revises: r0010_risk_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0020_risk_imports"
down_revision = "r0010_risk_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_imports",
        sa.Column("import_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("source_name", sa.String(256), nullable=False),
        sa.Column("source_sha256", sa.String(64), nullable=False),
        sa.Column("mapping_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False),
        sa.Column("labels", sa.BigInteger, nullable=False),
        sa.Column("duplicates", sa.BigInteger, nullable=False),
        sa.Column("rejected", sa.BigInteger, nullable=False),
        sa.Column("first_seq", sa.BigInteger),
        sa.Column("last_seq", sa.BigInteger),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("import_id", name="pk_risk_imports"),
    )


def downgrade() -> None:
    op.drop_table("risk_imports")
