"""What the case services share: the actor (roles and checks are ``dunpai.core.roles``, re-exported
here for the case modules), ports, and the one dependency bundle."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, text

from dunpai.audit import AuditPort
from dunpai.core.roles import ANALYSTS, SUPERVISORS, Actor, require
from dunpai.risk.cases.notices import DEFAULT_BANK, Bank


@dataclass(frozen=True)
class Staff:
    name: str
    role: str
    tenant: str = "default"
    employee_id: str | None = None
    branch_id: str | None = None


SYSTEM = Staff("system", "admin")


class EventSink(Protocol):
    """Where labels and staff data-access events go: ``RiskService.submit`` fits."""

    def submit(self, tenant: str, raw: Any) -> Any: ...


class Explainer(Protocol):
    """``RiskService.explain`` fits: the analyst's and customer's explanation of a decision."""

    def explain(self, tenant: str, decision_id: str) -> dict[str, Any]: ...


class Notifier(Protocol):
    """Sends a notice to the customer (SMS gateway, app push). The default only records it."""

    def send(self, tenant: str, customer_id: str | None, notice: dict[str, Any]) -> None: ...


class RecordingNotifier:
    """Keeps the latest notices in memory (bounded): every notice is also stored on its case, from
    where a gateway adapter, or the app's message centre, takes it."""

    def __init__(self, keep: int = 1000) -> None:
        self.sent: deque[tuple[str, str | None, dict[str, Any]]] = deque(maxlen=keep)

    def send(self, tenant: str, customer_id: str | None, notice: dict[str, Any]) -> None:
        self.sent.append((tenant, customer_id, notice))


@dataclass
class Deps:
    db: Engine
    audit: AuditPort
    clock: Callable[[], float] = time.time
    events: EventSink | None = None
    explainer: Explainer | None = None
    notifier: Notifier = field(default_factory=RecordingNotifier)
    bank: Bank = DEFAULT_BANK  # who the customer notices come from


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds")


def lock_tenant(conn: Connection, tenant: str, what: str) -> None:
    """Serialise writers of one tenant's ``what`` on PostgreSQL (SQLite has a single writer)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"{what}/{tenant}"})


__all__ = ["ANALYSTS", "SUPERVISORS", "SYSTEM", "Actor", "Deps", "EventSink", "Explainer", "Notifier",
           "RecordingNotifier", "Staff", "iso", "lock_tenant", "require"]
