"""Insider data theft (case S3): a generated month of staff activity, the look-ups that staff-access
decisions need (peer baselines, business records), the alert/suspension decision, and evaluation."""

from dunpai.risk.insider.actions import InsiderAction, insider_action
from dunpai.risk.insider.enricher import (
    InsiderEnricher,
    MemoryBaselines,
    MemoryDirectory,
    PrefixBusinessRecords,
    peer_baselines,
)
from dunpai.risk.insider.scenario import StaffMonth, StaffScenario, generate_s3_events

__all__ = [
    "InsiderAction",
    "InsiderEnricher",
    "MemoryBaselines",
    "MemoryDirectory",
    "PrefixBusinessRecords",
    "StaffMonth",
    "StaffScenario",
    "generate_s3_events",
    "insider_action",
    "peer_baselines",
]
