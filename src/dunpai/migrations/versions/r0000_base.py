"""Base revision: every package's first migration branches from here.

Revision ID: r0000_base
Revises:
"""

from __future__ import annotations

revision = "r0000_base"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
