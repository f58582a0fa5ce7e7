"""The audit port case management writes every change to, and its adapters.

``AuditSink`` is the narrow interface; ``AuditLogSink`` adapts ``dunpai.audit.AuditLog`` (the
hash-chained, signed log) and writes inside the caller's transaction when given one, so a change and
its audit entry commit or roll back together. ``MemoryAudit`` is for tests and tools.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Connection

from dunpai.audit import AuditLog


class AuditSink(Protocol):
    def append(self, actor: str, action: str, subject: str, details: dict[str, Any] | None = None, *,
               conn: Connection | None = None) -> int: ...


class AuditLogSink:
    """Every entry's subject is prefixed by its tenant (``tenant/case/cas_...``)."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    def append(self, actor: str, action: str, subject: str, details: dict[str, Any] | None = None, *,
               conn: Connection | None = None) -> int:
        return self.log.append(actor, action, subject, details or {}, conn=conn)


class MemoryAudit:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str, dict[str, Any]]] = []

    def append(self, actor: str, action: str, subject: str, details: dict[str, Any] | None = None, *,
               conn: Connection | None = None) -> int:
        self.entries.append((actor, action, subject, dict(details or {})))
        return len(self.entries)

    def actions(self) -> list[str]:
        return [a for _, a, _, _ in self.entries]
