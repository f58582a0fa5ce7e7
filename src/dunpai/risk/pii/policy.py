"""Who may see which personal fields, for which purpose: data, not code.

The default policy is deliberately narrow: every purpose needs a business reference, and no role
(administrators included) reads personal data without a business purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

from dunpai.risk.pii.model import PII_FIELDS, PiiField, RevealRequest


@dataclass(frozen=True)
class PurposeRule:
    role: str
    purpose: str
    fields: frozenset[PiiField]
    needs_business_ref: bool = True


@dataclass(frozen=True)
class Decision:
    granted: bool
    reason: str


@dataclass(frozen=True)
class AccessPolicy:
    rules: tuple[PurposeRule, ...]

    def decide(self, request: RevealRequest) -> Decision:
        rule = next((r for r in self.rules if r.role == request.role and r.purpose == request.purpose), None)
        if rule is None:
            return Decision(False, "role may not access personal data for this purpose")
        extra = [f for f in request.fields if f not in rule.fields]
        if extra:
            return Decision(False, f"fields not allowed for this purpose: {', '.join(extra)}")
        if rule.needs_business_ref and not request.business_ref:
            return Decision(False, "a business reference is required for this purpose")
        return Decision(True, "allowed by policy")


_ALL: frozenset[PiiField] = frozenset(PII_FIELDS)

DEFAULT_POLICY = AccessPolicy(rules=(
    PurposeRule("teller", "counter_service", _ALL),
    PurposeRule("customer_service", "customer_call", frozenset({"name", "phone", "address"})),
    PurposeRule("credit_officer", "loan_application", _ALL),
    PurposeRule("fraud_analyst", "fraud_investigation", _ALL),
    PurposeRule("compliance_officer", "regulatory_request", _ALL),
))
