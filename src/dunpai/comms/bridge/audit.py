"""The bridge's crossing audit, kept in the platform's audit log (:mod:`dunpai.audit`).

Every crossing (allowed or refused) and every media link session is one entry of the
hash-chained, checkpoint-signed audit chain: actor = the sender's ``user@deployment``, action =
``bridge.<op>``, subject = the recipient's address or the spanning group / call, details = service,
size in bytes, decision, reason code (and, for media, frame counts). Never content, keys or network
addresses: the fields are fixed here and every value is a user address, a group name, a number or a
fixed word. ``CrossingLog.verify`` (or ``dunpai audit verify`` on the same database) walks the chain
and every checkpoint signature and names the first edited or removed entry.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from dunpai.audit.log import AuditLog
from dunpai.audit.verify import VerifyReport
from dunpai.keys.store import KeyStore

AUDIT_KEY = "comms.bridge-audit"  # Ed25519, in the bridge's key store: signs the chain's checkpoints
ACTION_PREFIX = "bridge."
# a network address in a field would be a bug: refuse to write it rather than store it
_NET_ADDRESS = re.compile(r"\b\d{1,3}(\.\d{1,3}){3}\b|::|://|\[[0-9A-Fa-f:.]+\]")


class CrossingLog:
    """Crossings and media sessions, appended to a :class:`dunpai.audit.AuditLog`."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    def record(self, at: float, op: str, sender: str, recipient: str, service: str, size: int,
               decision: str, reason: str = "", **counts: int) -> int:
        details: dict[str, Any] = {"service": service or "-", "bytes": int(size), "decision": decision,
                                   "reason": reason, **{k: int(v) for k, v in counts.items()}}
        fields = (op, sender, recipient, service, decision, reason)
        if any(_NET_ADDRESS.search(v) for v in fields if v):
            raise ValueError("a crossing record must not hold a network address")
        return self.audit.append(sender or "unknown", ACTION_PREFIX + op, recipient or "-", details,
                                 at=datetime.fromtimestamp(at, UTC))

    def entries(self) -> list[dict[str, Any]]:
        """Every bridge entry, flattened: ``op``, ``from``, ``to`` and the details."""
        out: list[dict[str, Any]] = []
        after = 0
        while batch := self.audit.entries(after, 1000):
            for e in batch:
                if e.action.startswith(ACTION_PREFIX):
                    out.append({"seq": e.seq, "op": e.action[len(ACTION_PREFIX):], "from": e.actor,
                                "to": e.subject, **e.details_dict})
            after = batch[-1].seq
        return out

    def verify(self) -> VerifyReport:
        return self.audit.verify()

    def checkpoint(self) -> int | None:
        return self.audit.checkpoint()


def open_crossing_log(db_url: str, keystore: KeyStore, *, checkpoint_every: int = 1000,
                      checkpoint_interval_s: float = 60.0) -> CrossingLog:
    """The audit chain in ``db_url`` (SQLite file or PostgreSQL; migrated to the audit schema), its
    checkpoints signed with ``comms.bridge-audit`` from ``keystore`` (created on first use): by count
    and by time rather than on every crossing (a busy bridge crosses many messages a second)."""
    from dunpai.core.db import make_engine
    from dunpai.core.migrate import upgrade
    from dunpai.keys.errors import KeyNotFound

    engine = make_engine(db_url)
    upgrade(engine, "audit@head")
    try:
        keystore.find(AUDIT_KEY)
    except KeyNotFound:
        keystore.generate(AUDIT_KEY, "ed25519")
    return CrossingLog(AuditLog(engine, keystore, AUDIT_KEY, checkpoint_every=checkpoint_every,
                                checkpoint_interval_s=checkpoint_interval_s))
