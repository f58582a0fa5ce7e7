"""Append-only, hash-chained audit log with signed checkpoints, and its verifier."""

from dunpai.audit.chain import AuditEntry
from dunpai.audit.log import AuditLog
from dunpai.audit.port import AuditPort, MemoryAudit
from dunpai.audit.verify import AuditChainBroken, VerifyReport, verify_chain

__all__ = ["AuditChainBroken", "AuditEntry", "AuditLog", "AuditPort", "MemoryAudit", "VerifyReport", "verify_chain"]
