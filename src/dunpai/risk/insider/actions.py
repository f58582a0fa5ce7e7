"""What to do about a staff-access decision: alert, and suspend the employee's query account.

Pure: it reads the decision and returns what should happen; the service applies it (suspends the
account in the bank's access system, opens the case with the evidence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dunpai.core.i18n import Text
from dunpai.risk.decisions.ladder import RANK
from dunpai.risk.decisions.record import Decision
from dunpai.risk.events.schemas import StaffAccess

EVIDENCE_FEATURES = (
    "emp_count_1h",
    "emp_count_24h",
    "emp_daily_mean_30d",
    "emp_volume_ratio",
    "staff_peer_p99",
    "emp_no_business_24h",
    "emp_out_of_branch_24h",
    "emp_off_hours_24h",
    "emp_seq_run",
)


@dataclass(frozen=True)
class InsiderAction:
    employee_id: str
    alert: bool
    suspend: bool
    reasons: tuple[str, ...]
    text: Text
    evidence: dict[str, Any]

    def to_case(self) -> dict[str, Any]:
        """The case for the security team: who, why (rules with their values), what was done."""
        return {
            "kind": "insider.access",
            "entity": {"employee_id": self.employee_id},
            "suspend_query_account": self.suspend,
            "reasons": list(self.reasons),
            "summary": self.text.to_dict(),
            "evidence": self.evidence,
        }


def insider_action(event: StaffAccess, decision: Decision) -> InsiderAction | None:
    """``None`` when the decision allows the query; otherwise an alert, and a suspension of the
    employee's query account when the decision reached ``restrict`` (bulk theft pattern)."""
    if decision.action == "allow":
        return None
    suspend = RANK[decision.action] >= RANK["restrict"]
    hits = [r.rule_id for r in decision.rule_results if r.outcome == "hit"]
    evidence = {
        "decision_id": decision.decision_id,
        "event_id": event.event_id,
        "event_time": decision.event_time,
        "branch_id": event.branch_id,
        "customer_id": event.customer_id,
        "query_type": event.query_type,
        "rules": hits,
        "signals": list(decision.signals),
        "features": {k: round(decision.features[k], 3) for k in EVIDENCE_FEATURES if k in decision.features},
    }
    if suspend:
        text = Text(
            f"员工 {event.employee_id} 查询客户信息行为异常，已暂停其查询账户并立案",
            f"employee {event.employee_id} shows a data-theft pattern; query account suspended, case opened",
        )
    else:
        text = Text(
            f"员工 {event.employee_id} 查询客户信息行为异常，已提交安全部门审查",
            f"employee {event.employee_id} shows unusual data access; sent to the security team",
        )
    return InsiderAction(event.employee_id, True, suspend, decision.reasons, text, evidence)
