"""Decision features from the point-of-compromise job, for the engine's ``enrichers``.

``card_exposed`` 1 when the card is on the exposed list of a flagged terminal (exposed by the
event's time) and was not reissued since; ``terminal_flagged`` 1 when a card-present event happens
at a terminal flagged (and not cleared) by then; ``card_exposure_score`` the strongest flag's score.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dunpai.risk.compromise.ports import ExposureRepository
from dunpai.risk.events.schemas import AnyEvent, CardNotPresent, CardPresent

FEATURES = ("card_exposed", "terminal_flagged", "card_exposure_score")


class ExposureEnricher:
    def __init__(self, repo: ExposureRepository) -> None:
        self.repo = repo

    def feature_names(self) -> tuple[str, ...]:
        return FEATURES

    def enrich(self, event: AnyEvent, t: float, conn: Any = None) -> Mapping[str, float]:
        """Read from the repository (a cache of the job's flags in a service); ``conn`` unused."""
        if not isinstance(event, CardPresent | CardNotPresent):
            return {}
        exposed, score = 0.0, 0.0
        if event.card_id:
            reissued = self.repo.reissued_at(event.card_id)
            for e in self.repo.exposures_of(event.card_id):
                if e.exposed_at <= t and (reissued is None or reissued < e.exposed_at or reissued > t):
                    flag = self.repo.flag_of(e.terminal_id)
                    exposed = 1.0
                    score = max(score, flag.score if flag is not None else 0.0)
        flagged = 0.0
        if isinstance(event, CardPresent):
            flag = self.repo.flag_of(event.terminal_id)
            flagged = 1.0 if flag is not None and flag.active_at(t) else 0.0
        return {"card_exposed": exposed, "terminal_flagged": flagged, "card_exposure_score": score}
