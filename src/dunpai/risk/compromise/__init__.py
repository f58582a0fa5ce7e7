"""Point of compromise (case S4): find skimmed ATMs and POS terminals from later fraud, flag them
with evidence, list the cards exposed there, and raise those cards' risk until they are reissued.

- :class:`CompromiseJob` — the statistical job (incremental ``add_fraud`` + ``run``; ``batch``).
- :class:`ExposureEnricher` — ``card_exposed`` / ``terminal_flagged`` for live decisions.
- :mod:`.scenario` — skimming injected on the Handbook's history; ``s4_demo_events`` for the demo.
- :mod:`.evaluate` and :mod:`.cli` — ``dunpai eval compromise``.
"""

from dunpai.risk.compromise.enricher import ExposureEnricher
from dunpai.risk.compromise.job import CompromiseJob
from dunpai.risk.compromise.labels import fraud_card_from_label
from dunpai.risk.compromise.model import (
    CompromiseConfig,
    CompromiseReport,
    EvidenceCard,
    ExposedCard,
    FraudCard,
    TerminalFlag,
)
from dunpai.risk.compromise.ports import ExposureRepository, MemoryExposureRepository
from dunpai.risk.compromise.visits import ArrayVisitHistory, VisitHistory

__all__ = [
    "ArrayVisitHistory",
    "CompromiseConfig",
    "CompromiseJob",
    "CompromiseReport",
    "EvidenceCard",
    "ExposedCard",
    "ExposureEnricher",
    "ExposureRepository",
    "FraudCard",
    "MemoryExposureRepository",
    "TerminalFlag",
    "VisitHistory",
    "fraud_card_from_label",
]
