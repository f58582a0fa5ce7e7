"""The engine's in-process model: a LightGBM booster with Platt calibration and SHAP contributions.

Implements the engine's ``Scorer`` protocol. The probability is ``sigmoid(a * margin + b)`` where
``margin`` is the booster's raw score and ``(a, b)`` were fitted on a later validation window;
calibration is monotone, so rankings are the booster's own. Contributions are LightGBM's own SHAP
values (``pred_contrib``) on the margin scale — costly (about a millisecond a row), so the engine
asks for them only on decisions it shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import lightgbm as lgb
import numpy as np

from dunpai.risk.models.policy import Thresholds
from dunpai.risk.models.reasons import reason_for


def sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


class LightGBMScorer:
    kind = "lightgbm-binary"

    def __init__(self, booster: lgb.Booster, features: Sequence[str], calibration: tuple[float, float],
                 version: str, policy: Thresholds | None = None) -> None:
        self.booster = booster
        self.features = tuple(features)
        self.calibration = calibration
        self.version = version
        self.policy = policy

    def thresholds(self) -> Thresholds | None:
        """The alert budget's thresholds chosen when the model was trained (``None``: the ruleset's)."""
        return self.policy

    def _row(self, features: Mapping[str, float]) -> np.ndarray:
        # A feature the event lacks is missing (NaN), exactly as in the training matrix.
        return np.array([[features.get(name, math.nan) for name in self.features]], dtype=np.float64)

    def margin(self, matrix: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.asarray(self.booster.predict(matrix, raw_score=True), dtype=np.float64)
        return out

    def predict_batch(self, matrix: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of the rows of ``matrix`` (columns in ``self.features`` order)."""
        a, b = self.calibration
        return sigmoid(a * self.margin(matrix) + b)

    def predict(self, features: Mapping[str, float]) -> float:
        a, b = self.calibration
        m = float(self.margin(self._row(features))[0])
        return 1.0 / (1.0 + math.exp(-(a * m + b)))

    def contributions_batch(self, matrix: np.ndarray) -> np.ndarray:
        """SHAP values per row and feature (the bias column dropped)."""
        raw = np.asarray(self.booster.predict(matrix, pred_contrib=True), dtype=np.float64)
        return raw[:, :-1]

    def contributions(self, features: Mapping[str, float], top: int) -> list[tuple[str, float]]:
        """The ``top`` features with the largest absolute SHAP value, largest first."""
        values = self.contributions_batch(self._row(features))[0]
        order = np.argsort(-np.abs(values), kind="stable")[:top]
        return [(self.features[i], float(values[i])) for i in order]

    def reason_for(self, feature: str) -> str:
        return reason_for(feature)
