"""The binomial upper tail through the regularized incomplete beta function (exact, fast, and
accurate for the tiny p-values that rank terminals)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import betainc


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    return float(betainc(k, n - k + 1, p))


def binom_sf_array(
    k: npt.NDArray[np.int64], n: npt.NDArray[np.int64], p: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """:func:`binom_sf` over arrays (the same values, element by element)."""
    k, n, p = np.asarray(k), np.asarray(n), np.asarray(p, dtype=np.float64)
    inside = (k > 0) & (k <= n) & (p > 0.0) & (p < 1.0)
    out = np.where(k <= 0, 1.0, np.where((k > n) | (p <= 0.0), 0.0, 1.0))
    if inside.any():
        out[inside] = betainc(k[inside].astype(np.float64), (n[inside] - k[inside] + 1).astype(np.float64), p[inside])
    return out.astype(np.float64)
