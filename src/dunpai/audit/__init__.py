"""Append-only, hash-chained audit log with signed checkpoints, and its verifier."""

from dunpai.audit.chain import AuditEntry
from dunpai.audit.log import AuditLog
from dunpai.audit.port import AuditPort, MemoryAudit
from dunpai.audit.verify import Anchor, AuditChainBroken, VerifyReport, read_anchor, verify_chain

__all__ = ["Anchor", "AuditChainBroken", "AuditEntry", "AuditLog", "AuditPort", "MemoryAudit", "VerifyReport",
           "read_anchor", "verify_chain"]
