"""Customer personal-data protection (S6): sealed fields at rest, one audited reveal service."""

from dunpai.risk.pii.model import (
    PII_FIELDS,
    CustomerPii,
    PiiField,
    RevealedPii,
    RevealRequest,
    StaffAccessSink,
    StaffDataAccess,
)
from dunpai.risk.pii.policy import DEFAULT_POLICY, AccessPolicy, Decision, PurposeRule
from dunpai.risk.pii.reveal import RevealService
from dunpai.risk.pii.vault import PiiVault, SealedCustomer

__all__ = [
    "DEFAULT_POLICY",
    "PII_FIELDS",
    "AccessPolicy",
    "CustomerPii",
    "Decision",
    "PiiField",
    "PiiVault",
    "PurposeRule",
    "RevealRequest",
    "RevealService",
    "RevealedPii",
    "SealedCustomer",
    "StaffAccessSink",
    "StaffDataAccess",
]
