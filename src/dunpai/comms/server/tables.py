"""The comms service's own schema (separate from the risk database): ciphertext and public keys only.
Its migrations are the ``comms`` tree of the Alembic history (``migrations/versions/c0100_comms.py``).

No table has a column for a network address: the service never stores where a client connects from.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = Table(
    "comms_users", metadata,
    Column("user_id", String(64), primary_key=True),
    Column("signing_key", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
)

devices = Table(
    "comms_devices", metadata,
    Column("user_id", String(64), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("curve25519", String(64), nullable=False),
    Column("ed25519", String(64), nullable=False),
    Column("device_sig", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
    PrimaryKeyConstraint("user_id", "device_id"),
)

invites = Table(
    "comms_invites", metadata,
    Column("code_sha256", String(64), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_by", String(64), nullable=True),
    Column("used_at", Float, nullable=True),
)

one_time_keys = Table(
    "comms_one_time_keys", metadata,
    Column("user_id", String(64), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("key", String(64), nullable=False),
    Column("sig", String(128), nullable=False),
    Column("fallback", Integer, nullable=False, default=0),
    PrimaryKeyConstraint("user_id", "device_id", "fallback", "key_id"),
)

queue = Table(
    "comms_queue", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("user_id", String(64), nullable=False, index=True),
    Column("device_id", String(64), nullable=False),
    Column("sender_user", String(64), nullable=False),
    Column("sender_device", String(64), nullable=False),
    Column("msg_id", String(64), nullable=False),
    Column("group_id", String(64), nullable=True),
    Column("payload", Text, nullable=False),
    Column("sent_at", BigInteger, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
    UniqueConstraint("user_id", "device_id", "sender_user", "sender_device", "msg_id", name="uq_comms_queue_dedup"),
    sqlite_autoincrement=True,  # sequence numbers must never be reused: delivery order depends on them
)

groups = Table(
    "comms_groups", metadata,
    Column("group_id", String(64), primary_key=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("epoch", Integer, nullable=False),
)

group_members = Table(
    "comms_group_members", metadata,
    Column("group_id", String(64), nullable=False),
    Column("user_id", String(64), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    PrimaryKeyConstraint("group_id", "user_id"),
)

blobs = Table(
    "comms_blobs", metadata,
    Column("blob_id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("total", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

blob_chunks = Table(
    "comms_blob_chunks", metadata,
    Column("blob_id", String(64), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("blob_id", "idx"),
)
