"""The binomial upper tail through the regularized incomplete beta function (exact, fast, and
accurate for the tiny p-values that rank terminals)."""

from __future__ import annotations

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
