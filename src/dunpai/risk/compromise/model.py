"""Point of compromise (case S4): the data the job reads and writes.

Times are epoch seconds of event time (a label's time is when it became known). Cards are keyed
tokens, never card numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dunpai.core.i18n import Text

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class FraudCard:
    """A card with confirmed counterfeit (card-present) fraud: first fraud time and when it became known."""

    card_id: str
    first_fraud_t: float
    known_t: float


@dataclass(frozen=True)
class CompromiseConfig:
    """Parameters of the common-point-of-compromise test.

    ``lookback_days``: how long before a card's first fraud its uses count as candidate compromise
    points. ``min_cards``: the fewest fraud cards that may implicate a terminal. ``alpha``: the
    family-wise error level, Bonferroni-corrected over every terminal with any evidence and over
    every time window scanned at a terminal. ``expose_before_days``: how far before the first
    implicating use the skimmer may already have been there (cards used then are exposed too).
    ``max_window_days``: the longest suspected skimming window scanned. ``min_window_cards``: the
    fewest different cards a window a flag rests on must hold (emptier ones still give early
    warnings): a skimming point's customers are also its neighbours' regulars, and a few of its
    victims using a neighbour within the same hours, alone there, looks far less likely under the
    binomial null than it is.
    ``specificity``: how many times better a terminal must explain the fraud cards it shares with
    another terminal (their tightest windows' p-values compared) to be flagged instead of it.

    Early warning (:mod:`.warning`): ``skim_prior`` is the prior chance that a terminal carries a
    skimmer; a card's graded exposure (the chance it was copied) is recorded from ``warn_floor``,
    asks for step-up verification from ``warn_at`` (1/21: at most 20 innocent cards per victim when
    the exposure is calibrated) and advises proactive reissue from ``reissue_at``.
    """

    lookback_days: float = 35.0
    min_cards: int = 2
    alpha: float = 0.01
    expose_before_days: float = 14.0
    max_evidence_visits: int = 60
    max_window_days: float = 28.0
    min_window_cards: int = 12
    specificity: float = 10.0
    skim_prior: float = 1e-3
    warn_floor: float = 0.01
    warn_at: float = 0.05
    reissue_at: float = 0.5

    def __post_init__(self) -> None:
        if self.min_window_cards < 0:
            raise ValueError("invalid compromise config: min_window_cards must not be negative")
        if self.lookback_days <= 0 or self.min_cards < 2 or not 0 < self.alpha < 1 or self.expose_before_days < 0:
            raise ValueError("invalid compromise config")
        if not (0 < self.skim_prior < 1 and 0 < self.warn_floor <= self.warn_at <= self.reissue_at <= 1):
            raise ValueError("invalid early-warning config")


@dataclass(frozen=True, slots=True)
class EvidenceCard:
    card_id: str
    visit_t: float
    first_fraud_t: float
    known_t: float


@dataclass(frozen=True)
class TerminalFlag:
    """A terminal suspected of carrying a skimmer, with the evidence an analyst needs to act on it."""

    terminal_id: str
    flagged_at: float
    score: float
    p_value: float
    window_start: float
    window_end: float
    fraud_cards: int
    window_cards: int
    base_rate: float
    tests: int
    evidence: tuple[EvidenceCard, ...] = field(default=(), compare=False)
    cleared_at: float | None = None

    def active_at(self, t: float) -> bool:
        return self.flagged_at <= t and (self.cleared_at is None or t < self.cleared_at)

    def summary(self) -> Text:
        days = (self.window_end - self.window_start) / DAY
        return Text(
            f"终端 {self.terminal_id} 疑似被装侧录器：{self.fraud_cards} 张后来被伪卡盗刷的卡"
            f"在 {days:.1f} 天内于此使用，"
            f"同期共 {self.window_cards} 张卡使用（偶然出现的概率 p={self.p_value:.2g}）",
            f"terminal {self.terminal_id} is a suspected skimming point: {self.fraud_cards} cards later hit by "
            f"counterfeit fraud were used here within {days:.1f} days, out of {self.window_cards} cards in that "
            f"window (chance probability p={self.p_value:.2g})",
        )

    def to_alert(self) -> dict[str, Any]:
        """The alert for the case manager: title, bilingual summary, the statistical test and evidence."""
        return {
            "kind": "compromise.terminal",
            "reason": "compromise.skimming_suspected",
            "entity": {"terminal_id": self.terminal_id},
            "title": Text("疑似侧录终端，请现场排查", "suspected skimming terminal: inspect on site").to_dict(),
            "summary": self.summary().to_dict(),
            "flagged_at": self.flagged_at,
            "score": round(self.score, 3),
            "test": {
                "name": "binomial scan, Bonferroni over terminals and windows",
                "p_value": self.p_value,
                "fraud_cards": self.fraud_cards,
                "window_cards": self.window_cards,
                "base_rate": self.base_rate,
                "tests": self.tests,
            },
            "window": {"start": self.window_start, "end": self.window_end},
            "evidence": [
                {
                    "card_id": e.card_id,
                    "visit_t": e.visit_t,
                    "first_fraud_t": e.first_fraud_t,
                    "label_known_t": e.known_t,
                }
                for e in self.evidence
            ],
        }


@dataclass(frozen=True, slots=True)
class ExposedCard:
    """A card used at a suspected terminal in its suspected window: monitor it, and reissue it.

    ``exposure`` is the chance the card was copied there: 1 at a flagged terminal, graded below 1
    for an early warning at a terminal whose evidence is not yet conclusive (:mod:`.warning`).
    """

    card_id: str
    terminal_id: str
    visit_t: float
    exposed_at: float
    exposure: float = 1.0


@dataclass(frozen=True)
class CompromiseReport:
    as_of: float
    new_flags: tuple[TerminalFlag, ...]
    flags: tuple[TerminalFlag, ...]
    new_exposed: tuple[ExposedCard, ...]
    exposed_total: int
    reissue_advised: tuple[str, ...] = ()
    """Cards whose exposure reached ``reissue_at`` in this run (replace them before they are used)."""
