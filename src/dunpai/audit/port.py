"""The one audit port every service writes administrative changes to.

``dunpai.audit.AuditLog`` (the hash-chained, signed log) implements it, writing inside the caller's
transaction when given ``conn`` so that a change and its entry commit or roll back together;
``MemoryAudit`` implements it for tests and tools. Services declare this narrow interface, never
the log itself.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Connection


class AuditPort(Protocol):
    def append(self, actor: str, action: str, subject: str, details: dict[str, Any] | None = None, *,
               conn: Connection | None = None) -> int:
        """Record one change; returns the entry's sequence number. Never secrets or personal data."""
        ...

    def checkpoint(self, *, conn: Connection | None = None) -> int | None:
        """Sign the head now (``None``: nothing to sign, or a sink that does not sign)."""
        ...


class MemoryAudit:
    """Entries kept in memory, in order (tests and tools)."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str, dict[str, Any]]] = []

    def append(self, actor: str, action: str, subject: str, details: dict[str, Any] | None = None, *,
               conn: Connection | None = None) -> int:
        self.entries.append((actor, action, subject, dict(details or {})))
        return len(self.entries)

    def checkpoint(self, *, conn: Connection | None = None) -> int | None:
        return None

    def actions(self) -> list[str]:
        return [a for _, a, _, _ in self.entries]
