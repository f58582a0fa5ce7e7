"""Champion/challenger: the challenger scores in shadow; only the champion decides."""

from __future__ import annotations

import numpy as np

from dunpai.risk.models.scorer import LightGBMScorer
from dunpai.risk.models.shadow import ShadowScorer, compare
from dunpai.risk.models.train import Fitted

from .conftest import FEATURES, synthetic


def test_champion_decides_challenger_is_recorded(fitted: Fitted, fitted_other: Fitted) -> None:
    seen: list[tuple[str, float, float]] = []
    champion = fitted.scorer
    other = fitted_other.scorer
    challenger = LightGBMScorer(other.booster, other.features, other.calibration, "challenger-v")
    shadow = ShadowScorer(champion, challenger, lambda v, p, q: seen.append((v, p, q)))
    x, _ = synthetic(25, 7)
    for row in x:
        f = dict(zip(FEATURES, row, strict=True))
        assert shadow.predict(f) == champion.predict(f)
        assert shadow.contributions(f, 3) == champion.contributions(f, 3)
    assert len(seen) == 25
    assert all(v == "challenger-v" for v, _, _ in seen)
    assert any(abs(p - q) > 1e-6 for _, p, q in seen)
    assert shadow.version == champion.version


def test_compare_counts_alerts() -> None:
    a = np.array([0.1, 0.9, 0.8, 0.2])
    b = np.array([0.2, 0.95, 0.1, 0.7])
    r = compare(a, b, "c", "d", 0.5)
    assert (r.champion_alerts, r.challenger_alerts, r.both_alert) == (2, 2, 1)
