"""The one way to read customer personal data in clear.

Every call — granted, denied, or for an unknown customer — is first written to the audit chain and
handed to the staff-access sink (the insider detector's intake); only then, and only when granted,
are the requested fields opened. If auditing or the sink fails, nothing is decrypted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from dunpai.audit.log import AuditLog
from dunpai.core.errors import Forbidden, NotFound
from dunpai.core.ids import random_id
from dunpai.keys.envelope import Envelope
from dunpai.risk.pii.model import (
    Outcome,
    RevealedPii,
    RevealRequest,
    StaffAccessSink,
    StaffDataAccess,
    check_fields,
)
from dunpai.risk.pii.policy import DEFAULT_POLICY, AccessPolicy
from dunpai.risk.pii.vault import PiiVault, field_aad

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RevealService:
    def __init__(self, vault: PiiVault, envelope: Envelope, audit: AuditLog, sink: StaffAccessSink,
                 *, policy: AccessPolicy = DEFAULT_POLICY, clock: Clock = _utc_now) -> None:
        self._vault = vault
        self._envelope = envelope
        self._audit = audit
        self._sink = sink
        self._policy = policy
        self._clock = clock

    def reveal(self, request: RevealRequest) -> RevealedPii:
        """Raises ``Forbidden`` (denied by policy) or ``NotFound``; both attempts are still recorded."""
        req = request.checked()
        sealed = self._vault.sealed(req.customer_id)
        outcome: Outcome
        if sealed is None:
            outcome, reason = "not_found", "no such customer"
        else:
            decision = self._policy.decide(req)
            outcome, reason = ("granted" if decision.granted else "denied"), decision.reason
        now = self._clock()
        access_id = random_id("pii")
        customer_branch = sealed.branch_id if sealed is not None else None
        seq = self._audit.append(
            req.employee_id, f"pii.reveal.{outcome}", f"customer:{req.customer_id}",
            {"access_id": access_id, "role": req.role, "branch_id": req.branch_id,
             "customer_branch_id": customer_branch, "purpose": req.purpose, "query_type": req.query_type,
             "fields": list(req.fields), "business_ref": req.business_ref, "reason": reason},
            at=now,
        )
        self._sink(StaffDataAccess(
            access_id=access_id, employee_id=req.employee_id, branch_id=req.branch_id,
            customer_id=req.customer_id, customer_branch_id=customer_branch, query_type=req.query_type,
            purpose=req.purpose, event_time=now, role=req.role, fields=req.fields,
            business_ref=req.business_ref, outcome=outcome, audit_seq=seq,
        ))
        if sealed is None:
            raise NotFound("no such customer")
        if outcome != "granted":
            raise Forbidden("access to personal data denied", reason=reason, audit_seq=seq)
        values = {f: self._envelope.open(sealed.sealed[f], field_aad(req.customer_id, f)).decode("utf-8")
                  for f in check_fields(req.fields)}
        return RevealedPii(req.customer_id, values)
