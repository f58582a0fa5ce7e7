"""Skimmer hunting measured on an injected scenario: labels arrive in event-time order, the job runs
incrementally after each hour's labels, and the ground truth is compared afterwards.

Reported: the fraction of skimmed terminals flagged; the median days from the first victim's label
becoming known to the terminal's flag; the fraction of flags that were wrong (terminals that never
carried a skimmer); the fraction of the skimmed terminals' victims that were on a flagged terminal's
exposed list before their first fraud.

``early_warning``, the trade-off of graded exposures (:mod:`.warning`): a card is warned when its
exposure (over its terminals, a flagged terminal's counting 1) reaches a threshold. The *later
victims* are those whose first fraud came after their skimmer's first victim label was known (before
that nothing could warn them). Per threshold: the share of later victims warned before their fraud,
and the innocent cards warned (never a skimmer's victim) per victim warned before the fraud.

``told_window``, a reference for how soon labels alone make a skimmer significant: a test *told*
each skimmed terminal and its true skimming window, so searching neither (:func:`told_window`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np

from dunpai.risk.compromise.job import CompromiseJob
from dunpai.risk.compromise.model import DAY, CompromiseConfig
from dunpai.risk.compromise.scenario import InjectedScenario
from dunpai.risk.compromise.stats import binom_sf
from dunpai.risk.compromise.visits import ArrayVisitHistory
from dunpai.risk.compromise.warning import combine

WRONG_SHARE = 0.05
"""The share of wrong flags the lenient level of :func:`told_window` allows."""
THRESHOLDS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
"""The exposure levels the trade-off is reported at (1: only flagged terminals' cards)."""

Progress = Callable[[int, int], None]


def evaluate(
    truth: InjectedScenario,
    config: CompromiseConfig | None = None,
    run_every_secs: float = 3600.0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    config = config or CompromiseConfig()
    history = ArrayVisitHistory.from_arrays(truth.card, truth.terminal, truth.t)
    job = CompromiseJob(history, config=config)
    frauds = truth.frauds
    batches: list[tuple[float, list[int]]] = []
    for i, f in enumerate(frauds):
        slot = (f.known_t // run_every_secs + 1) * run_every_secs
        if batches and batches[-1][0] == slot:
            batches[-1][1].append(i)
        else:
            batches.append((slot, [i]))
    flagged_at: dict[str, float] = {}
    exposed_at: dict[str, float] = {}
    levels = sorted({*THRESHOLDS, config.warn_at})
    exposure: dict[str, dict[str, float]] = {}
    warned_at: dict[str, list[float]] = {}
    advised = 0
    for n, (as_of, idx) in enumerate(batches):
        for i in idx:
            job.add_fraud(frauds[i])
        report = job.run(as_of)
        advised += len(report.reissue_advised)
        for flag in report.new_flags:
            flagged_at.setdefault(flag.terminal_id, flag.flagged_at)
        for e in report.new_exposed:
            if e.exposure >= 1.0:
                exposed_at[e.card_id] = min(exposed_at.get(e.card_id, e.exposed_at), e.exposed_at)
            per = exposure.setdefault(e.card_id, {})
            per[e.terminal_id] = max(per.get(e.terminal_id, 0.0), e.exposure)
        for card in {e.card_id for e in report.new_exposed}:
            value = combine(exposure[card].values())
            times = warned_at.setdefault(card, [math.inf] * len(levels))
            for j, level in enumerate(levels):
                if value >= level and times[j] == math.inf:
                    times[j] = as_of
        if progress is not None:
            progress(n + 1, len(batches))
    result = score(truth, flagged_at, exposed_at, config)
    result["early_warning"] = warning_tradeoff(truth, warned_at, levels, config.warn_at)
    result["early_warning"]["reissue_advised"] = advised
    result["told_window"] = told_window(truth, history, config)
    return result


def told_window(
    truth: InjectedScenario, history: ArrayVisitHistory, config: CompromiseConfig, step_days: float = 0.25,
    horizon_days: float = 60.0,
) -> dict[str, Any]:
    """Per skimmed terminal, the days from its first victim's label until a binomial test told the
    terminal and its true skimming window finds the known fraud cards among the window's cards (so far)
    significant, counted as the job counts them: fraud cards whose first fraud falls after the window's
    start and within ``lookback_days`` of its end, known by then, against the share of every such known
    card among the active ones. Two levels: the job's family-wise ``alpha`` over all terminals, and
    the level at which a ``WRONG_SHARE`` of wrong flags is expected if every skimmed terminal were
    flagged (``WRONG_SHARE`` × skimmed / terminals). ``None``: not reached within ``horizon_days``.

    A reference for the job's days to flag, not a strict bound: the job must also find the window and
    the terminal and pays for searching them, but the window it picks may hold victims more densely."""
    terminals = len(set(truth.terminal))
    levels = {"family_wise": config.alpha / terminals,
              "wrong_share": WRONG_SHARE * len(truth.skimmed) / terminals}
    by_known = sorted(truth.frauds, key=lambda f: f.known_t)
    known_t = np.array([f.known_t for f in by_known])
    first_t = np.array([f.first_fraud_t for f in by_known])
    index = {f.card_id: i for i, f in enumerate(by_known)}
    label = truth.scenario.label_delay_days * DAY
    days: dict[str, list[float]] = {name: [] for name in levels}
    for terminal, (start, end) in sorted(truth.skimmed.items()):
        first_fraud = min((f for t, _, f in truth.victims.values() if t == terminal), default=math.inf)
        first_label = first_fraud + label
        reached = dict.fromkeys(levels, math.inf)
        uses = history.terminal_cards(terminal, start, end)
        for step in range(int(horizon_days / step_days) + 1 if first_fraud < math.inf else 0):
            as_of = first_label + step * step_days * DAY
            until = min(end, as_of)
            cards = {c for t, c in uses if t <= until}
            counted = (known_t <= as_of) & (first_t > start) & (first_t <= until + config.lookback_days * DAY)
            k = sum(1 for c in cards if c in index and counted[index[c]])
            p = binom_sf(k, len(cards), int(counted.sum()) / max(history.active_cards(as_of), 1))
            for name, level in levels.items():
                if p <= level and reached[name] == math.inf:
                    reached[name] = step * step_days
            if all(d < math.inf for d in reached.values()):
                break
        for name in levels:
            days[name].append(reached[name])
    return {name: {"level": levels[name], "median_days": _finite(statistics.median(d)),
                   "days": [_finite(x) for x in d]} for name, d in days.items()}


def _finite(x: float) -> float | None:
    return None if math.isinf(x) else x


def warning_tradeoff(
    truth: InjectedScenario, warned_at: dict[str, list[float]], levels: list[float], warn_at: float
) -> dict[str, Any]:
    """Per exposure level: later victims warned before their fraud, innocent cards warned per victim."""
    label_delay = truth.scenario.label_delay_days * DAY
    first_known: dict[str, float] = {}
    for term, _, fraud_t in truth.victims.values():
        first_known[term] = min(first_known.get(term, math.inf), fraud_t + label_delay)
    later = {c: f for c, (term, _, f) in truth.victims.items() if f > first_known[term]}
    curve = []
    for j, level in enumerate(levels):
        warned = {c: times[j] for c, times in warned_at.items() if times[j] < math.inf}
        caught = sum(1 for c, (_, _, f) in truth.victims.items() if warned.get(c, math.inf) < f)
        caught_later = sum(1 for c, f in later.items() if warned.get(c, math.inf) < f)
        innocent = sum(1 for c in warned if c not in truth.victims)
        curve.append({
            "exposure_at_least": level,
            "later_victims_warned_before_fraud": caught_later / len(later) if later else 0.0,
            "victims_warned_before_fraud": caught,
            "innocent_warned": innocent,
            "innocent_warned_per_victim": innocent / caught if caught else None,
        })
    chosen = next(p for p in curve if p["exposure_at_least"] == warn_at)
    return {
        "warn_at": warn_at,
        "later_victims": len(later),
        "later_victims_warned_before_fraud": chosen["later_victims_warned_before_fraud"],
        "innocent_warned_per_victim": chosen["innocent_warned_per_victim"],
        "curve": curve,
    }


def score(
    truth: InjectedScenario, flagged_at: dict[str, float], exposed_at: dict[str, float], config: CompromiseConfig
) -> dict[str, Any]:
    label_delay = truth.scenario.label_delay_days * DAY
    skimmed = truth.skimmed
    hit = [t for t in skimmed if t in flagged_at]
    days = []
    for terminal in hit:
        first_label = min(
            (f + label_delay for (term, _, f) in truth.victims.values() if term == terminal), default=None
        )
        if first_label is not None:
            days.append((flagged_at[terminal] - first_label) / DAY)
    wrong = [t for t in flagged_at if t not in skimmed]
    victims = truth.victims
    before = [c for c, (_, _, fraud_t) in victims.items() if c in exposed_at and exposed_at[c] < fraud_t]
    return {
        "flagged_fraction": len(hit) / len(skimmed) if skimmed else 0.0,
        "median_days_to_flag": statistics.median(days) if days else None,
        "wrong_flag_fraction": len(wrong) / len(flagged_at) if flagged_at else 0.0,
        "victims_exposed_before_fraud": len(before) / len(victims) if victims else 0.0,
        "detail": {
            "skimmed_terminals": len(skimmed),
            "flagged_terminals": len(flagged_at),
            "flagged_skimmed": len(hit),
            "wrong_flags": sorted(wrong),
            "days_to_flag": sorted(round(d, 2) for d in days),
            "victims": len(victims),
            "victims_exposed_before_fraud": len(before),
            "exposed_cards": len(exposed_at),
            "background_fraud_cards": len(truth.background_frauds),
            "scenario": asdict(truth.scenario),
            "config": asdict(config),
        },
    }
