"""A policy that respects customers: intervention thresholds from an alert budget.

``policy.max_interrupt_rate`` (default 0.5 %) is the share of *legitimate* payments the bank
accepts to interrupt — any step above ``allow`` counts. The rules' own interruptions come out of
the budget first; the score thresholds share the rest up the ladder: ``verify`` may use all of it,
``delay`` a quarter, ``restrict`` a twentieth (``LADDER_SHARES``). Thresholds are chosen on a
window of history whose labels are known and kept with the model they apply to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_BUDGET = 0.005
LADDER_SHARES: dict[str, float] = {"verify": 1.0, "delay": 0.25, "restrict": 0.05}


@dataclass(frozen=True)
class Thresholds:
    verify: float
    delay: float
    restrict: float
    budget: float

    def to_dict(self) -> dict[str, float | None]:
        """JSON-safe: a step the budget leaves no room for (an infinite threshold) is ``None``."""
        def finite(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {"verify": finite(self.verify), "delay": finite(self.delay), "restrict": finite(self.restrict),
                "budget": self.budget}

    @classmethod
    def from_dict(cls, d: dict[str, float | None]) -> Thresholds:
        def value(x: float | None) -> float:
            return math.inf if x is None else float(x)

        return cls(value(d["verify"]), value(d["delay"]), value(d["restrict"]), value(d["budget"]))

    def action(self, score: float) -> str:
        for name in ("restrict", "delay", "verify"):
            if score >= getattr(self, name):
                return name
        return "allow"


def _threshold(scores: np.ndarray, allowed: float) -> float:
    """The lowest score such that at most ``allowed`` of ``scores`` reach it (``inf`` if none may)."""
    k = math.floor(allowed + 1e-9)
    if k <= 0 or len(scores) == 0:
        return math.inf
    if k >= len(scores):
        return float(np.min(scores))
    ordered = np.sort(scores)[::-1]
    th = float(np.nextafter(ordered[k], math.inf))  # just above the (k+1)-th highest: at most k reach it
    return th


def thresholds(legit_scores: np.ndarray, budget: float = DEFAULT_BUDGET,
               rule_alerts: np.ndarray | None = None) -> Thresholds:
    """Thresholds on ``legit_scores`` (the scores of legitimate payments of a recent window) such
    that the legitimate payments interrupted — by a rule (``rule_alerts``) or by the score — stay
    within ``budget``, and each stronger step within its share of it."""
    n = len(legit_scores)
    ruled = np.zeros(n, dtype=bool) if rule_alerts is None else np.asarray(rule_alerts, dtype=bool)
    free = legit_scores[~ruled]
    out = {}
    for step, share in LADDER_SHARES.items():
        allowed = budget * share * n - (int(ruled.sum()) if step == "verify" else 0)
        out[step] = _threshold(free if step == "verify" else legit_scores, allowed)
    # A stronger step never has a lower threshold than a weaker one.
    out["delay"] = max(out["delay"], out["verify"])
    out["restrict"] = max(out["restrict"], out["delay"])
    return Thresholds(out["verify"], out["delay"], out["restrict"], budget)


def interrupt_rates(scores: np.ndarray, y: np.ndarray, th: Thresholds,
                    rule_alerts: np.ndarray | None = None) -> dict[str, float]:
    """Shares of legitimate payments interrupted and of frauds stopped (any step above ``allow``,
    by the score or a rule), and of frauds held (``delay`` or stronger by the score)."""
    alert = scores >= th.verify
    if rule_alerts is not None:
        alert = alert | np.asarray(rule_alerts, dtype=bool)
    held = scores >= th.delay
    legit, fraud = y == 0, y == 1
    return {
        "legit_interrupted": float(alert[legit].mean()) if legit.any() else 0.0,
        "fraud_stopped": float(alert[fraud].mean()) if fraud.any() else 0.0,
        "fraud_held": float(held[fraud].mean()) if fraud.any() else 0.0,
    }
