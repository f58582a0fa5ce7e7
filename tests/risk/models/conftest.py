"""A small deterministic model fitted on synthetic data (no Handbook needed)."""

from __future__ import annotations

import numpy as np
import pytest

from dunpai.risk.models.train import Fitted, fit

FEATURES = ("amount", "hab_ratio_median_30d", "tl_run_len", "hour")


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.gamma(2.0, 30.0, n), rng.gamma(4.0, 0.25, n), rng.poisson(0.05, n), rng.uniform(0, 24, n)])
    logit = -5 + 0.02 * x[:, 0] + 1.2 * x[:, 1] + 2.0 * x[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return x, y


@pytest.fixture(scope="session")
def fitted() -> Fitted:
    xt, yt = synthetic(4000, 1)
    xv, yv = synthetic(2000, 2)
    return fit(xt, yt, xv, yv, FEATURES, max_rounds=60, early_stopping=20)


@pytest.fixture(scope="session")
def fitted_other() -> Fitted:
    xt, yt = synthetic(4000, 3)
    xv, yv = synthetic(2000, 4)
    return fit(xt, yt, xv, yv, FEATURES, {"num_leaves": 7}, max_rounds=40, early_stopping=20)
