"""Tables of case management: cases, alerts, linked entities, history, account actions and states,
evidence, notices, disputes, the reserve ledger, rule changes awaiting a second person, and the
console's staff users, sessions and saved queue views.

Every row carries its tenant; every query filters on it. Evidence and ledger rows are only ever
inserted. Money is integer minor units (BigInteger).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from dunpai.core.db import metadata

cases = Table(
    "case_cases", metadata,
    Column("case_id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("group_kind", String(16), nullable=False),
    Column("group_key", String(128), nullable=False),
    Column("status", String(20), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("amount_at_risk", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("assignee", String(64)),
    Column("opened_at", Float, nullable=False),
    Column("due_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("closed_at", Float),
    Column("conclusion", String(20)),
    Index("ix_case_cases_tenant_status", "tenant", "status"),
    Index("ix_case_cases_tenant_group", "tenant", "group_kind", "group_key"),
)

alerts = Table(
    "case_alerts", metadata,
    Column("tenant", String(64), nullable=False),
    Column("alert_id", String(64), nullable=False),
    Column("case_id", String(64), nullable=False),
    Column("source", String(16), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("score", Integer, nullable=False),
    Column("raised_at", Float, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    PrimaryKeyConstraint("tenant", "alert_id", name="pk_case_alerts"),
    Index("ix_case_alerts_case", "tenant", "case_id"),
)

entities = Table(
    "case_entities", metadata,
    Column("tenant", String(64), nullable=False),
    Column("case_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("key", String(128), nullable=False),
    PrimaryKeyConstraint("tenant", "case_id", "kind", "key", name="pk_case_entities"),
    Index("ix_case_entities_key", "tenant", "kind", "key"),
)

history = Table(
    "case_history", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("case_id", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_case_history_case", "tenant", "case_id"),
)

attachments = Table(
    "case_attachments", metadata,
    Column("attachment_id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("case_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("evidence_seq", Integer, nullable=False),
    Column("added_by", String(64), nullable=False),
    Column("added_at", Float, nullable=False),
    Index("ix_case_attachments_case", "tenant", "case_id"),
)

actions = Table(
    "case_account_actions", metadata,
    Column("action_id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("case_id", String(64)),
    Column("requested_at", Float, nullable=False),
    Index("ix_case_account_actions_tenant_status", "tenant", "status"),
)

account_states = Table(
    "case_account_states", metadata,
    Column("tenant", String(64), nullable=False),
    Column("target_kind", String(16), nullable=False),
    Column("target_id", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("since", Float, nullable=False),
    Column("action_id", String(64), nullable=False),
    PrimaryKeyConstraint("tenant", "target_kind", "target_id", name="pk_case_account_states"),
)

evidence = Table(
    "case_evidence", metadata,
    Column("tenant", String(64), nullable=False),
    Column("case_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("item_hash", String(64), nullable=False),
    Column("added_by", String(64), nullable=False),
    Column("added_at", String(40), nullable=False),
    PrimaryKeyConstraint("tenant", "case_id", "seq", name="pk_case_evidence"),
)

notices = Table(
    "case_notices", metadata,
    Column("notice_id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("case_id", String(64)),
    Column("customer_id", String(128)),
    Column("kind", String(20), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_case_notices_case", "tenant", "case_id"),
)

disputes = Table(
    "case_disputes", metadata,
    Column("dispute_id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("case_id", String(64), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("account_id", String(128), nullable=False),
    Column("claimed", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("opened_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_case_disputes_case", "tenant", "case_id"),
)

ledger_lines = Table(
    "case_ledger_lines", metadata,
    Column("tenant", String(64), nullable=False),
    Column("entry_id", String(64), nullable=False),
    Column("line", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("account", String(32), nullable=False),
    Column("debit", BigInteger, nullable=False),
    Column("credit", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("memo", Text, nullable=False),
    Column("dispute_id", String(64)),
    Column("case_id", String(64)),
    PrimaryKeyConstraint("tenant", "entry_id", "line", name="pk_case_ledger_lines"),
)

staff_users = Table(
    "console_staff", metadata,
    Column("username", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("display_name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("employee_id", String(64), nullable=False),
    Column("branch_id", String(64), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("disabled_at", Float),
)

staff_sessions = Table(
    "console_sessions", metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

saved_views = Table(
    "console_saved_views", metadata,
    Column("tenant", String(64), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("query", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    PrimaryKeyConstraint("tenant", "owner", "name", name="pk_console_saved_views"),
)

rule_changes = Table(
    "case_rule_changes", metadata,
    Column("change_id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("base_version", String(64), nullable=False),
    Column("draft_version", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("submitted_by", String(64), nullable=False),
    Column("submitted_at", Float, nullable=False),
    Column("decided_by", String(64)),
    Column("decided_at", Float),
    Index("ix_case_rule_changes_tenant_status", "tenant", "status"),
)
