"""Skimmer hunting measured on an injected scenario: labels arrive in event-time order, the job runs
incrementally after each hour's labels, and the ground truth is compared afterwards.

Reported: the fraction of skimmed terminals flagged; the median days from the first victim's label
becoming known to the terminal's flag; the fraction of flags that were wrong (terminals that never
carried a skimmer); the fraction of the skimmed terminals' later victims that were on the exposed
list before their first fraud.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from dunpai.risk.compromise.job import CompromiseJob
from dunpai.risk.compromise.model import DAY, CompromiseConfig
from dunpai.risk.compromise.scenario import InjectedScenario
from dunpai.risk.compromise.visits import ArrayVisitHistory

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
    for n, (as_of, idx) in enumerate(batches):
        for i in idx:
            job.add_fraud(frauds[i])
        report = job.run(as_of)
        for flag in report.new_flags:
            flagged_at.setdefault(flag.terminal_id, flag.flagged_at)
        for e in report.new_exposed:
            exposed_at[e.card_id] = min(exposed_at.get(e.card_id, e.exposed_at), e.exposed_at)
        if progress is not None:
            progress(n + 1, len(batches))
    return score(truth, flagged_at, exposed_at, config)


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
