"""Customer personal data vault: sealed personal fields and a keyed ID-number token.

Revision ID: r0110_pii
Revises: r0000_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0110_pii"
down_revision = "r0000_base"
branch_labels = ("pii",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pii_customers",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("branch_id", sa.String(64), nullable=False),
        sa.Column("id_number_token", sa.String(64), nullable=False),
        sa.Column("name_sealed", sa.LargeBinary, nullable=False),
        sa.Column("id_number_sealed", sa.LargeBinary, nullable=False),
        sa.Column("phone_sealed", sa.LargeBinary, nullable=False),
        sa.Column("address_sealed", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_pii_customers"),
    )
    op.create_index("ix_pii_customers_id_number_token", "pii_customers", ["id_number_token"])


def downgrade() -> None:
    op.drop_index("ix_pii_customers_id_number_token", table_name="pii_customers")
    op.drop_table("pii_customers")
