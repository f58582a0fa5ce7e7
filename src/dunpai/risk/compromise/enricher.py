"""Decision features from the point-of-compromise job, for the engine's ``enrichers``.

``card_exposure`` the chance the card was copied at a suspected terminal (exposed by the event's
time, not reissued since): 1 at a flagged terminal, graded below for an early warning;
``card_exposed`` 1 when that exposure reaches the step-up level (``warn_at``), so the rules that
verify or hold an exposed card act on early warnings too; ``terminal_flagged`` 1 when a card-present
event happens at a terminal flagged (and not cleared) by then; ``card_exposure_score`` the strongest
flag's score.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dunpai.risk.compromise.model import CompromiseConfig
from dunpai.risk.compromise.ports import ExposureRepository
from dunpai.risk.compromise.warning import card_exposure
from dunpai.risk.events.schemas import AnyEvent, CardNotPresent, CardPresent

FEATURES = ("card_exposed", "terminal_flagged", "card_exposure_score", "card_exposure")


class ExposureEnricher:
    def __init__(self, repo: ExposureRepository, warn_at: float = CompromiseConfig.warn_at) -> None:
        self.repo = repo
        self.warn_at = warn_at

    def feature_names(self) -> tuple[str, ...]:
        return FEATURES

    def enrich(self, event: AnyEvent, t: float, conn: Any = None) -> Mapping[str, float]:
        """Read from the repository (a cache of the job's flags in a service); ``conn`` unused."""
        if not isinstance(event, CardPresent | CardNotPresent):
            return {}
        exposure, score = 0.0, 0.0
        if event.card_id:
            reissued = self.repo.reissued_at(event.card_id)
            exposures = self.repo.exposures_of(event.card_id)
            exposure = card_exposure(exposures, t, reissued)
            for e in exposures:
                if e.exposed_at <= t and (reissued is None or reissued < e.exposed_at or reissued > t):
                    flag = self.repo.flag_of(e.terminal_id)
                    score = max(score, flag.score if flag is not None else 0.0)
        flagged = 0.0
        if isinstance(event, CardPresent):
            flag = self.repo.flag_of(event.terminal_id)
            flagged = 1.0 if flag is not None and flag.active_at(t) else 0.0
        return {
            "card_exposed": 1.0 if exposure >= self.warn_at else 0.0,
            "terminal_flagged": flagged,
            "card_exposure_score": score,
            "card_exposure": exposure,
        }
