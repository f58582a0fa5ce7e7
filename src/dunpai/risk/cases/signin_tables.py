"""Console sign-in failures per user name, kept in the database so that a lock-out survives a
restart and holds across every server of a deployment (``web/throttle.py`` decides)."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, String, Table

from dunpai.core.db import metadata

signin_failures = Table(
    "console_signin_failures", metadata,
    Column("username", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("locked_until", Float, nullable=False),
    Column("last_failed_at", Float, nullable=False),
)
