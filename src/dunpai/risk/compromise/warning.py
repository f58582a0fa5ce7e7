"""Early warning: protect a skimmer's victims before the terminal's statistics are conclusive.

After the first confirmed victims, every terminal they used shortly before their fraud is a candidate.
The job's scan gives each candidate ``T`` its most suspicious window: ``k`` known fraud cards among
the ``m`` cards that used ``T`` in it, against the base rate ``r``. The evidence that ``T`` carried a
skimmer then, against ``T`` being an ordinary terminal, is a Bayes factor (a likelihood ratio with
the skimmer's unknown victim share ``q`` integrated over a uniform prior)::

    BF = ∫ Binom(k; m, q) dq / Binom(k; m, r) = 1 / ((m + 1) · Binom(k; m, r))

divided by the number of windows scanned (the window was chosen after looking at them). It is a
sequential test: each new label updates it, and no yes/no threshold is needed to use it. With prior
odds ``π / (1 − π)`` that a terminal carries a skimmer (``CompromiseConfig.skim_prior``), ``T`` is
a skimming point with probability ``P_T = odds · BF / (1 + odds · BF)``, and a card that used it in
the window (or since: the skimmer may still be there) was copied with probability ``P_T · q̂`` where
``q̂ = (k + 1) / (m + 2)`` is the victim share's posterior mean. A card's exposure combines its
candidate terminals: ``1 − Π (1 − P_T · q̂_T)``; a flagged terminal's cards are exposed at 1.

The bank acts on the grade: step-up verification from ``warn_at``, proactive reissue from
``reissue_at`` (``CompromiseConfig``); the enricher gives live decisions the card's exposure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from dunpai.risk.compromise.model import ExposedCard


def log10_bayes_factor(k: int, m: int, rate: float, windows: int = 1) -> float:
    """log10 of the Bayes factor for "a skimmer" (victim share uniform on [0, 1]) against the base
    ``rate``, for ``k`` fraud cards among ``m``, penalised for ``windows`` scanned."""
    if m < 1 or not 0 <= k <= m:
        raise ValueError("need 0 <= k <= m and m >= 1")
    rate = min(max(rate, 1e-12), 1 - 1e-12)
    log_pmf = math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1)
    log_pmf += k * math.log(rate) + (m - k) * math.log1p(-rate)
    return (-math.log(m + 1) - log_pmf) / math.log(10) - math.log10(max(windows, 1))


def terminal_probability(log10_bf: float, prior: float) -> float:
    """Posterior probability that the terminal carries a skimmer, from its Bayes factor and the prior."""
    if not 0 < prior < 1:
        raise ValueError("prior must be in (0, 1)")
    log_odds = math.log10(prior / (1 - prior)) + log10_bf
    if log_odds > 12:
        return 1.0
    odds = math.pow(10.0, log_odds)
    return odds / (1 + odds)


def victim_share(k: int, m: int) -> float:
    """Posterior mean of the share of a skimmer's cards that are defrauded (uniform prior)."""
    return (k + 1) / (m + 2)


def combine(exposures: Iterable[float]) -> float:
    """A card's exposure over several terminals: the chance at least one of them copied it."""
    keep = 1.0
    for e in exposures:
        keep *= 1.0 - min(max(e, 0.0), 1.0)
    return 1.0 - keep


def level(exposure: float, warn_at: float, reissue_at: float) -> str:
    """What the bank does about a card at this exposure: ``"reissue"``, ``"step_up"`` or ``"none"``."""
    if exposure >= reissue_at:
        return "reissue"
    return "step_up" if exposure >= warn_at else "none"


def card_exposure(exposures: Iterable[ExposedCard], t: float, reissued: float | None) -> float:
    """The card's exposure at ``t`` from its exposures known by then, forgetting those before a reissue."""
    best: dict[str, float] = {}
    for e in exposures:
        if e.exposed_at <= t and (reissued is None or reissued < e.exposed_at or reissued > t):
            best[e.terminal_id] = max(best.get(e.terminal_id, 0.0), e.exposure)
    return combine(best.values())
