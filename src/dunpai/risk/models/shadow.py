"""Champion/challenger: the challenger scores every event in shadow; only the champion decides.

:class:`ShadowScorer` is a ``Scorer`` for the engine. Its probability, contributions and reasons
are the champion's; the challenger's probability for the same features is handed to a sink (the
decision log, a metrics counter, a list in tests) so the two can be compared on live traffic before
``dunpai models promote`` swaps them. A failing challenger never affects the decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dunpai.risk.models.policy import Thresholds
from dunpai.risk.models.registry import AnyScorer

ShadowSink = Callable[[str, float, float], None]
"""``sink(challenger_version, champion_probability, challenger_probability)``."""


class ShadowScorer:
    def __init__(self, champion: AnyScorer, challenger: AnyScorer, sink: ShadowSink) -> None:
        self.champion = champion
        self.challenger = challenger
        self.sink = sink
        self.version = champion.version
        self.kind = champion.kind
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

    def thresholds(self) -> Thresholds | None:
        """The champion's alert-budget thresholds: only the champion decides."""
        return self.champion.thresholds()


class ShadowTally:
    """A shadow sink for the live service: counts the challenger's scores and the events on which
    champion and challenger fall on different sides of ``threshold`` (on the service's Prometheus
    registry when given, and in memory)."""

    def __init__(self, registry: Any = None, threshold: float = 0.5) -> None:
        self.threshold = threshold
        self.scored = 0
        self.disagreements = 0
        self.last: tuple[str, float, float] | None = None
        self._scored_metric = self._disagree_metric = None
        if registry is not None:
            from prometheus_client import Counter

            self._scored_metric = Counter("dunpai_shadow_scored", "Events scored by the shadow challenger",
                                          ["challenger"], registry=registry)
            self._disagree_metric = Counter("dunpai_shadow_disagreements",
                                            "Events where champion and challenger differ at the threshold",
                                            ["challenger"], registry=registry)

    def record(self, challenger: str, champion_p: float, challenger_p: float) -> None:
        self.scored += 1
        self.last = (challenger, champion_p, challenger_p)
        differ = (champion_p >= self.threshold) != (challenger_p >= self.threshold)
        self.disagreements += differ
        if self._scored_metric is not None and self._disagree_metric is not None:
            self._scored_metric.labels(challenger).inc()
            if differ:
                self._disagree_metric.labels(challenger).inc()


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
