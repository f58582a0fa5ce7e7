"""Cold start: before a tenant has labels, how unusual a payment is against its own habits.

The score reads the habit deviations the feature pipeline already computes — an amount high in the
card's own history, an hour or weekday the card rarely uses, a merchant, category, country or
channel never seen, a burst of uses, a place far from usual, a balance drained, money out just after
money in, an amount high for its category or merchant, a device or IP shared by many customers,
and every detector signal. Each deviation's value is turned into a tail probability *under the
tenant's own recent traffic* (the share of recent payments at least as extreme: an empirical
distribution of a calibration window, no labels needed), read as a surprise ``-ln(tail)``.
Deviations that measure one thing (the amount against the card's mean, its median, its percentile)
are one *dimension*: each dimension counts once, with its largest surprise, and the payment's
surprise is the sum over dimensions — amount, time, velocity, novelty, place, balance, shared
devices, and each detector signal on its own (Fisher's method over independent tests). A place
reported for a terminal that is no fixed point (``SPREAD``) adds no surprise.

The score reported is how rare that combined surprise is in the same window, on a log scale: 0.5
means about one payment in a hundred is as unusual, 0.75 one in a thousand, 1.0 one in ten thousand
or rarer. Thresholds follow the alert budget (``policy.py``), which counts *legitimate* payments —
and the window's frauds are not yet known. Counting every payment as legitimate interrupts only
``budget`` of all traffic; where frauds crowd the window's top, that stops far fewer than the budget
allows. So the thresholds also read the tail's shape (``tail_thresholds``): the surprise of ordinary
payments thins out about exponentially, so a line through the log of the share of payments above
each surprise, fitted between the window's ``TAIL_FIT`` quantiles, says how many ordinary payments
to expect above any threshold. Where the window holds more unusual payments than that line expects,
the surplus is counted as fraud and the threshold is lowered until the line expects ``budget`` of
ordinary payments above it — never so far that more than ``LOOSEN_CAP`` times the budget of all
traffic is interrupted, so that even were every payment above it legitimate, the interruptions stay
within that multiple. Where the window holds no surplus, the thresholds stay where counting every
payment as legitimate puts them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from dunpai.risk.models.policy import LADDER_SHARES, Thresholds, thresholds

HIGH, LOW = 1, -1
_HABIT: dict[str, tuple[str, int]] = {
    "amount_pctl": ("amount", HIGH), "amount_ratio": ("amount", HIGH), "amount_z": ("amount", HIGH),
    "amount_gratio": ("amount", HIGH), "high_7d": ("amount", HIGH), "count_10m": ("velocity", HIGH),
    "count_1h": ("velocity", HIGH), "burst_24h": ("velocity", HIGH), "hour_share": ("time", LOW),
    "weekday_share": ("time", LOW), "new_merchant": ("novelty", HIGH), "new_category": ("novelty", HIGH),
    "new_country": ("novelty", HIGH), "new_channel": ("novelty", HIGH), "km_from_usual": ("place", HIGH),
}
DEVIATIONS: dict[str, tuple[str, int]] = {
    **{f"{p}_{name}": d for p in ("card", "payer") for name, d in _HABIT.items()},
    "cust_km_from_home": ("place", HIGH), "card_speed_kmh": ("place", HIGH),
    "drain_ratio": ("balance", HIGH), "drains_balance": ("balance", HIGH),
    "acct_out_in_ratio": ("balance", HIGH), "cat_amount_z": ("amount", HIGH), "merch_amount_ratio": ("amount", HIGH),
    "term_amount_ratio": ("amount", HIGH), "payee_amount_ratio": ("amount", HIGH), "pop_amount_pctl": ("amount", HIGH),
    "dev_customers_24h": ("shared", HIGH), "ip_customers_24h": ("shared", HIGH),
}
"""Habit deviations: their dimension and their unusual side (``HIGH``: large values are unusual).
Detector signals (``sig_*``) are deviations too, each its own dimension."""
CEILINGS: dict[str, float] = {"drain_ratio": 1.0}
"""A deviation's values past its ceiling count as the ceiling: a payment takes at most the whole
balance — an amount beyond it (credit, or an export whose balances lag) is no larger drain, and
where such amounts are common they would otherwise crowd out the exact drains (``drains_balance``)."""
SPREAD, UNFIXED_KM = "term_place_spread_km", 50.0
"""Where the places reported for a payment's terminal spread over more than ``UNFIXED_KM`` (one
id given at many places: a merchant's name, a billing address), its place says nothing about
where the card was: the place dimension counts no surprise there (as impossible travel ignores
such a terminal). Read by the scorer, not a deviation itself (sense 0)."""
FEATURE_SAMPLE = 5_000
"""Each deviation's calibration distribution is a sorted uniform sample of the window's values."""
SURPRISE_SAMPLE = 50_000
"""The combined surprise's distribution keeps more values: its far tail sets the thresholds."""
FLOOR = 1e-4
"""Rarity is read down to one payment in ten thousand (score 1.0)."""
TAIL_FIT = (0.90, 0.98)
"""The window's quantiles between which the tail of the combined surprise is fitted: mostly
ordinary payments, and enough of them to fit."""
MIN_TAIL_ROWS = 2_000
"""A window of fewer payments keeps the thresholds of counting every payment as legitimate."""
LOOSEN_CAP = 2.0
"""The tail's fit lowers a threshold at most until this multiple of the step's budget share of
all traffic is interrupted."""


def _tails(sorted_values: np.ndarray, x: np.ndarray, sense: int) -> np.ndarray:
    """Share of the calibration values at least as extreme as each ``x`` (at least 1/n)."""
    n = len(sorted_values)
    if sense == HIGH:
        count = n - np.searchsorted(sorted_values, x, side="left")
    else:
        count = np.searchsorted(sorted_values, x, side="right")
    return np.maximum(count, 1) / n


def rarity(tail: np.ndarray | float) -> np.ndarray:
    """``-log10(tail)`` scaled so that one in ten thousand (or rarer) is 1.0."""
    t = np.maximum(np.asarray(tail, dtype=np.float64), FLOOR)
    out: np.ndarray = -np.log10(t) / -math.log10(FLOOR)
    return out


@dataclass
class ColdStartScorer:
    """Implements the engine's ``Scorer`` for a tenant without labels."""

    features: tuple[str, ...]
    senses: tuple[int, ...]
    dimensions: tuple[str, ...]
    grids: tuple[np.ndarray, ...]
    """Each deviation's calibration values (a sorted sample of the window)."""
    surprise_grid: np.ndarray
    """The combined surprise of the window's payments (a sorted sample)."""
    policy: Thresholds
    version: str = "unregistered"
    kind: str = "habit-deviation"
    _unfixed: tuple[int, np.ndarray] | None = field(init=False, repr=False, compare=False)
    """The spread's column and the place columns, once (the live path scores one payment a call)."""
    _columns: tuple[list[int], ...] = field(init=False, repr=False, compare=False)
    """Each dimension's columns, once."""

    def __post_init__(self) -> None:
        place = np.array([d == "place" for d in self.dimensions], dtype=bool)
        self._unfixed = (self.features.index(SPREAD), place) if SPREAD in self.features else None
        self._columns = tuple([j for j, d in enumerate(self.dimensions) if d == dim]
                              for dim in dict.fromkeys(d for d in self.dimensions if d))

    def _surprises(self, matrix: np.ndarray) -> np.ndarray:
        out = np.zeros_like(matrix)
        for j, (grid, sense) in enumerate(zip(self.grids, self.senses, strict=True)):
            col = _capped(self.features[j], matrix[:, j])
            given = ~np.isnan(col)
            if sense and given.any():
                out[given, j] = -np.log(_tails(grid, col[given], sense))
        if self._unfixed is not None:
            spread, place = self._unfixed
            out[np.ix_(matrix[:, spread] > UNFIXED_KM, place)] = 0.0  # NaN (no terminal): not unfixed
        return out

    def _total(self, surprises: np.ndarray) -> np.ndarray:
        """Each dimension's largest surprise, summed over the dimensions."""
        total = np.zeros(len(surprises))
        for cols in self._columns:
            total += surprises[:, cols].max(axis=1)
        return total

    def predict_batch(self, matrix: np.ndarray) -> np.ndarray:
        total = self._total(self._surprises(matrix))
        return rarity(_tails(self.surprise_grid, total, HIGH))

    def _row(self, features: Mapping[str, float]) -> np.ndarray:
        return np.array([[features.get(n, math.nan) for n in self.features]], dtype=np.float64)

    def predict(self, features: Mapping[str, float]) -> float:
        return float(self.predict_batch(self._row(features))[0])

    def contributions(self, features: Mapping[str, float], top: int) -> list[tuple[str, float]]:
        values = self._surprises(self._row(features))[0]
        order = np.argsort(-values, kind="stable")[:top]
        return [(self.features[i], float(values[i])) for i in order if values[i] > 0]

    def reason_for(self, feature: str) -> str:
        from dunpai.risk.models.reasons import reason_for

        return reason_for(feature)

    def thresholds(self) -> Thresholds:
        return self.policy

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "features": list(self.features), "senses": list(self.senses),
                "dimensions": list(self.dimensions),
                "grids": [g.tolist() for g in self.grids], "surprise_grid": self.surprise_grid.tolist(),
                "thresholds": self.policy.to_dict()}

    @classmethod
    def from_json(cls, d: Mapping[str, object], version: str) -> ColdStartScorer:
        grids = tuple(np.asarray(g, dtype=np.float64) for g in d["grids"])  # type: ignore[attr-defined]
        return cls(tuple(d["features"]), tuple(d["senses"]), tuple(d["dimensions"]), grids,  # type: ignore[arg-type]
                   np.asarray(d["surprise_grid"], dtype=np.float64),
                   Thresholds.from_dict(d["thresholds"]), version)  # type: ignore[arg-type]


def _capped(feature: str, values: np.ndarray) -> np.ndarray:
    ceiling = CEILINGS.get(feature)
    return values if ceiling is None else np.minimum(values, ceiling)


def _sample(values: np.ndarray, size: int) -> np.ndarray:
    """A sorted uniform sample (fixed seed: the same window gives the same scorer)."""
    values = values[~np.isnan(values)]
    if len(values) > size:
        values = np.random.default_rng(0).choice(values, size, replace=False)
    return np.sort(values)


def _varies(column: np.ndarray) -> bool:
    """Whether the window gives a deviation at least two different values (else it says nothing)."""
    given = column[~np.isnan(column)]
    return len(given) > 1 and bool(given.min() < given.max())


def fit_cold_start(matrix: np.ndarray, names: Sequence[str], budget: float,
                   rule_alerts: np.ndarray | None = None) -> ColdStartScorer:
    """Calibrate on a window of recent payments (``matrix`` columns named ``names``): each
    deviation present there, then the combined surprise, then the budget's thresholds."""
    wanted = dict(DEVIATIONS)
    wanted.update({n: (n, HIGH) for n in names if n.startswith("sig_")})
    wanted[SPREAD] = ("", 0)
    cols = [i for i, n in enumerate(names) if n in wanted and _varies(matrix[:, i])]
    features = tuple(names[i] for i in cols)
    senses = tuple(wanted[f][1] for f in features)
    dimensions = tuple(wanted[f][0] for f in features)
    grids = tuple(_sample(_capped(names[i], matrix[:, i]), FEATURE_SAMPLE) if senses[k] else np.zeros(0)
                  for k, i in enumerate(cols))
    scorer = ColdStartScorer(features, senses, dimensions, grids, np.zeros(1), Thresholds(1.0, 1.0, 1.0, budget))
    sub = matrix[:, cols]
    total = scorer._total(scorer._surprises(sub))
    scorer.surprise_grid = _sample(total, SURPRISE_SAMPLE)
    scores = scorer.predict_batch(sub)
    scorer.policy = tail_thresholds(total, scores, scorer.surprise_grid, budget, rule_alerts)
    body = json.dumps(scorer.to_json(), sort_keys=True).encode()
    scorer.version = "hab_" + hashlib.sha256(body).hexdigest()[:12]
    return scorer


def _tail_line(total: np.ndarray) -> tuple[float, float] | None:
    """``(slope, intercept)`` of ``ln(share of payments above s)`` against ``s`` between the
    ``TAIL_FIT`` quantiles of the window's surprise; ``None`` where it does not thin out."""
    if len(total) < MIN_TAIL_ROWS:
        return None
    shares = np.linspace(TAIL_FIT[0], TAIL_FIT[1], 33)
    at = np.quantile(total, shares)
    if at[-1] <= at[0]:
        return None
    slope, intercept = np.polyfit(at, np.log1p(-shares), 1)
    return (float(slope), float(intercept)) if slope < 0 else None


def tail_thresholds(total: np.ndarray, scores: np.ndarray, surprise_grid: np.ndarray, budget: float,
                    rule_alerts: np.ndarray | None = None) -> Thresholds:
    """Thresholds for ``budget`` on an unlabelled window (its combined surprise ``total`` and
    ``scores``): those of counting every payment as legitimate, lowered where the tail holds more
    unusual payments than its fitted line expects (module docstring)."""
    plain = thresholds(scores, budget, rule_alerts)
    line = _tail_line(total)
    if line is None:
        return plain
    slope, intercept = line
    cap = thresholds(scores, LOOSEN_CAP * budget, rule_alerts)
    ruled = 0.0 if rule_alerts is None else float(np.mean(rule_alerts))
    out: dict[str, float] = {}
    for step, share in LADDER_SHARES.items():
        kept = getattr(plain, step)
        expected = budget * share - (ruled if step == "verify" else 0.0)
        if expected <= 0 or not math.isfinite(kept):
            out[step] = kept
            continue
        surprise = (math.log(expected) - intercept) / slope
        fitted = float(rarity(_tails(surprise_grid, np.array([surprise]), HIGH))[0])
        out[step] = max(min(kept, fitted), getattr(cap, step))
    out["delay"] = max(out["delay"], out["verify"])
    out["restrict"] = max(out["restrict"], out["delay"])
    return Thresholds(out["verify"], out["delay"], out["restrict"], budget)
