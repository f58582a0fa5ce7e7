"""Incident response (case S5): alerts -> cases, dual-control account actions, tamper-evident
evidence bundles, the police report, customer notices, disputes and the loss-reserve ledger."""

from dunpai.risk.cases.accounts import AccountStates
from dunpai.risk.cases.bundle import BundleReport, verify_bundle
from dunpai.risk.cases.common import Staff
from dunpai.risk.cases.incidents import Incidents
from dunpai.risk.cases.model import Alert, Case
from dunpai.risk.cases.signing import EvidenceSigner, KeyStoreSigner, software_signer

__all__ = [
    "AccountStates",
    "Alert",
    "BundleReport",
    "Case",
    "EvidenceSigner",
    "Incidents",
    "KeyStoreSigner",
    "Staff",
    "software_signer",
    "verify_bundle",
]
