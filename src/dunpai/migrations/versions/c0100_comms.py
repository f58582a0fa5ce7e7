"""The comms service's database: users, devices, one-time keys, invites, the store-and-forward queue
of ciphertext, groups and encrypted file chunks. A tree of its own (a comms deployment has its own
database; the risk database never gets these tables): ``dunpai.core.migrate.upgrade(engine, "comms")``.

Revision ID: c0100_comms
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0100_comms"
down_revision = None
branch_labels = ("comms",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comms_users",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("signing_key", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_comms_users"),
    )
    op.create_table(
        "comms_devices",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("curve25519", sa.String(length=64), nullable=False),
        sa.Column("ed25519", sa.String(length=64), nullable=False),
        sa.Column("device_sig", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("user_id", "device_id", name="pk_comms_devices"),
    )
    op.create_table(
        "comms_invites",
        sa.Column("code_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("used_by", sa.String(length=64), nullable=True),
        sa.Column("used_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("code_sha256", name="pk_comms_invites"),
    )
    op.create_table(
        "comms_one_time_keys",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("sig", sa.String(length=128), nullable=False),
        sa.Column("fallback", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "device_id", "fallback", "key_id", name="pk_comms_one_time_keys"),
    )
    op.create_table(
        "comms_queue",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("sender_user", sa.String(length=64), nullable=False),
        sa.Column("sender_device", sa.String(length=64), nullable=False),
        sa.Column("msg_id", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_comms_queue"),
        sa.UniqueConstraint("user_id", "device_id", "sender_user", "sender_device", "msg_id",
                            name="uq_comms_queue_dedup"),
        sqlite_autoincrement=True,  # sequence numbers must never be reused: delivery order depends on them
    )
    op.create_index("ix_comms_queue_expires_at", "comms_queue", ["expires_at"], unique=False)
    op.create_index("ix_comms_queue_user_id", "comms_queue", ["user_id"], unique=False)
    op.create_table(
        "comms_groups",
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("group_id", name="pk_comms_groups"),
    )
    op.create_table(
        "comms_group_members",
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("group_id", "user_id", name="pk_comms_group_members"),
    )
    op.create_index("ix_comms_group_members_user_id", "comms_group_members", ["user_id"], unique=False)
    op.create_table(
        "comms_blobs",
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("blob_id", name="pk_comms_blobs"),
    )
    op.create_table(
        "comms_blob_chunks",
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("blob_id", "idx", name="pk_comms_blob_chunks"),
    )


def downgrade() -> None:
    for table in ("comms_blob_chunks", "comms_blobs", "comms_group_members", "comms_groups", "comms_queue",
                  "comms_one_time_keys", "comms_invites", "comms_devices", "comms_users"):
        op.drop_table(table)
