"""Account and card actions under dual control (pure).

Restricting, freezing and unfreezing money is a two-person act: one member of staff requests it,
stating the legal basis and the reason; a second one, of a role allowed to approve, approves it.
The same person can never do both, and a request is decided at most once. Checks raise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from dunpai.core.errors import FieldProblem, Forbidden, InvalidInput, StateError
from dunpai.core.i18n import Text
from dunpai.core.roles import APPROVERS, STAFF_ROLES

TargetKind = Literal["account", "card"]
ActionKind = Literal["restrict", "freeze", "unfreeze"]
ActionStatus = Literal["pending", "approved", "rejected"]
AccountState = Literal["active", "restricted", "frozen"]

ACTION_KINDS: tuple[ActionKind, ...] = ("restrict", "freeze", "unfreeze")
RESULT_STATE: dict[str, AccountState] = {"restrict": "restricted", "freeze": "frozen", "unfreeze": "active"}
# Who may ask and who may approve. Freezing and unfreezing need a supervisor's approval.
REQUEST_ROLES = frozenset(STAFF_ROLES)
APPROVE_ROLES: dict[str, frozenset[str]] = {
    "restrict": frozenset(APPROVERS),
    "freeze": frozenset(APPROVERS),
    "unfreeze": frozenset(APPROVERS),
}

LEGAL_BASES: dict[str, Text] = {
    "anti_telecom_fraud_art18": Text("《反电信网络诈骗法》第十八条", "Anti-Telecom and Online Fraud Law, art. 18"),
    "police_request": Text("公安机关协助冻结通知", "notice of assistance with a freeze from the police"),
    "customer_request": Text("客户本人申请", "the customer's own request"),
    "bank_terms": Text("银行卡章程及账户服务协议", "the bank card rules and the account agreement"),
    "confirmation_cleared": Text("核实无异常，解除措施", "verified as normal; measure lifted"),
}


@dataclass(frozen=True)
class ActionRequest:
    action_id: str
    tenant: str
    target_kind: TargetKind
    target_id: str
    action: ActionKind
    legal_basis: str
    reason: str
    requested_by: str
    requested_role: str
    requested_at: float
    case_id: str | None = None
    customer_id: str | None = None
    status: ActionStatus = "pending"
    decided_by: str | None = None
    decided_role: str | None = None
    decided_at: float | None = None
    decision_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id, "target": {"kind": self.target_kind, "id": self.target_id},
            "action": self.action, "legal_basis": self.legal_basis,
            "legal_basis_text": LEGAL_BASES[self.legal_basis].to_dict(), "reason": self.reason,
            "requested_by": self.requested_by, "requested_role": self.requested_role,
            "requested_at": self.requested_at, "case_id": self.case_id, "customer_id": self.customer_id,
            "status": self.status, "decided_by": self.decided_by, "decided_role": self.decided_role,
            "decided_at": self.decided_at, "decision_note": self.decision_note,
        }


def new_request(action_id: str, tenant: str, target_kind: str, target_id: str, action: str, legal_basis: str,
                reason: str, actor: str, role: str, at: float, case_id: str | None = None,
                customer_id: str | None = None) -> ActionRequest:
    problems = []
    if target_kind not in ("account", "card"):
        problems.append(FieldProblem("target_kind", "must be account or card"))
    if action not in ACTION_KINDS:
        problems.append(FieldProblem("action", f"must be one of {', '.join(ACTION_KINDS)}"))
    if legal_basis not in LEGAL_BASES:
        problems.append(FieldProblem("legal_basis", f"must be one of {', '.join(LEGAL_BASES)}"))
    if not reason.strip():
        problems.append(FieldProblem("reason", "a reason is required"))
    if not target_id.strip():
        problems.append(FieldProblem("target_id", "required"))
    if problems:
        raise InvalidInput("invalid account action", problems=problems)
    if role not in REQUEST_ROLES:
        raise Forbidden(f"role {role} may not request account actions")
    return ActionRequest(action_id, tenant, target_kind, target_id, action, legal_basis,  # type: ignore[arg-type]
                         reason.strip(), actor, role, at, case_id, customer_id)


def approve(request: ActionRequest, approver: str, role: str, at: float, note: str | None = None) -> ActionRequest:
    """The second person's approval. Raises ``Forbidden`` for the requester or a role that may not
    approve this action, ``StateError`` for a request already decided."""
    _check_decidable(request, approver, role)
    return replace(request, status="approved", decided_by=approver, decided_role=role, decided_at=at,
                   decision_note=note)


def reject(request: ActionRequest, approver: str, role: str, at: float, note: str | None = None) -> ActionRequest:
    _check_decidable(request, approver, role)
    return replace(request, status="rejected", decided_by=approver, decided_role=role, decided_at=at,
                   decision_note=note)


def _check_decidable(request: ActionRequest, approver: str, role: str) -> None:
    if request.status != "pending":
        raise StateError("this account action was already decided", action_id=request.action_id,
                         status=request.status)
    if approver == request.requested_by:
        raise Forbidden("dual control: the requester cannot approve their own request",
                        action_id=request.action_id)
    if role not in APPROVE_ROLES[request.action]:
        raise Forbidden(f"role {role} may not approve a {request.action}", needs=sorted(APPROVE_ROLES[request.action]))


def check_applicable(action: str, current: str) -> None:
    """A freeze of a frozen account, or an unfreeze of an active one, is a mistake worth refusing."""
    if RESULT_STATE[action] == current:
        raise StateError("the account is already in that state", state=current, action=action)
