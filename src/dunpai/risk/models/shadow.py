"""Champion/challenger: the challenger scores every event in shadow; only the champion decides.

:class:`ShadowScorer` is a ``Scorer`` for the engine. Its probability, contributions and reasons
are the champion's; the challenger's probability for the same features is handed to a sink (the
decision log, a metrics counter, a list in tests) so the two can be compared on live traffic before
``dunpai models promote`` swaps them. A failing challenger never affects the decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from dunpai.risk.models.scorer import LightGBMScorer

ShadowSink = Callable[[str, float, float], None]
"""``sink(challenger_version, champion_probability, challenger_probability)``."""


class ShadowScorer:
    def __init__(self, champion: LightGBMScorer, challenger: LightGBMScorer, sink: ShadowSink) -> None:
        self.champion = champion
        self.challenger = challenger
        self.sink = sink
        self.version = champion.version
        self.shadow_errors = 0

    def predict(self, features: Mapping[str, float]) -> float:
        p = self.champion.predict(features)
        try:
            q = self.challenger.predict(features)
        except (ValueError, KeyError, RuntimeError):
            self.shadow_errors += 1
            return p
        self.sink(self.challenger.version, p, q)
        return p

    def contributions(self, features: Mapping[str, float], top: int) -> list[tuple[str, float]]:
        return self.champion.contributions(features, top)

    def reason_for(self, feature: str) -> str:
        return self.champion.reason_for(feature)


@dataclass(frozen=True)
class ShadowReport:
    """How the challenger would have differed, on the same events, at one alert threshold."""

    champion: str
    challenger: str
    events: int
    champion_alerts: int
    challenger_alerts: int
    both_alert: int
    rank_correlation: float


def compare(champion_p: np.ndarray, challenger_p: np.ndarray, champion: str, challenger: str,
            threshold: float) -> ShadowReport:
    a, b = champion_p >= threshold, challenger_p >= threshold
    ra = np.argsort(np.argsort(champion_p))
    rb = np.argsort(np.argsort(challenger_p))
    corr = float(np.corrcoef(ra, rb)[0, 1]) if len(ra) > 1 else 1.0
    return ShadowReport(champion, challenger, len(a), int(a.sum()), int(b.sum()), int((a & b).sum()), corr)
