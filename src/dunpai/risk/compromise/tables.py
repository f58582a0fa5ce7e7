"""Tables of the point-of-compromise job (migrations r0210_compromise, r0211_compromise_exposure):
card-present uses it reads, terminal flags with their evidence, exposed cards (with their graded
exposure), reissued cards."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from dunpai.core.db import metadata

compromise_visits = Table(
    "compromise_visits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_id", String(128), nullable=False),
    Column("terminal_id", String(128), nullable=False),
    Column("t", Float, nullable=False),
    Index("ix_compromise_visits_card_t", "card_id", "t"),
    Index("ix_compromise_visits_terminal_t", "terminal_id", "t"),
)

compromise_flags = Table(
    "compromise_flags",
    metadata,
    Column("terminal_id", String(128), primary_key=True),
    Column("flagged_at", Float, nullable=False),
    Column("score", Float, nullable=False),
    Column("p_value", Float, nullable=False),
    Column("window_start", Float, nullable=False),
    Column("window_end", Float, nullable=False),
    Column("fraud_cards", Integer, nullable=False),
    Column("window_cards", Integer, nullable=False),
    Column("base_rate", Float, nullable=False),
    Column("tests", Integer, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("cleared_at", Float, nullable=True),
)

compromise_exposed = Table(
    "compromise_exposed",
    metadata,
    Column("card_id", String(128), primary_key=True),
    Column("terminal_id", String(128), primary_key=True),
    Column("visit_t", Float, nullable=False),
    Column("exposed_at", Float, nullable=False),
    Column("exposure", Float, nullable=False, server_default="1.0"),  # r0211: graded early warnings
)

compromise_reissued = Table(
    "compromise_reissued",
    metadata,
    Column("card_id", String(128), primary_key=True),
    Column("reissued_at", Float, nullable=False),
)
