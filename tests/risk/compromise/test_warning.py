"""Early warning: a graded exposure from a Bayes factor per candidate terminal, raised before the
terminal is flagged, explained away once another terminal is flagged on the same cards."""

from __future__ import annotations

import math

import pytest
from scipy.stats import binom

from dunpai.risk.compromise import CompromiseConfig, CompromiseJob
from dunpai.risk.compromise.model import DAY
from dunpai.risk.compromise.warning import (
    combine,
    level,
    log10_bayes_factor,
    terminal_probability,
    victim_share,
)

from .test_job import SMALL, _handmade


def test_bayes_factor_is_the_uniform_mixture_over_the_base_rate() -> None:
    k, m, r = 3, 20, 0.01
    assert 10 ** log10_bayes_factor(k, m, r) == pytest.approx(1 / ((m + 1) * binom.pmf(k, m, r)))
    assert log10_bayes_factor(k, m, r, windows=100) == pytest.approx(log10_bayes_factor(k, m, r) - 2)
    # more fraud cards among the same users: more evidence; a fraud share at the base rate: evidence against
    assert log10_bayes_factor(4, m, r) > log10_bayes_factor(3, m, r) > 0
    assert log10_bayes_factor(2, 200, 0.01) < 0
    with pytest.raises(ValueError):
        log10_bayes_factor(5, 4, r)


def test_posterior_combination_and_levels() -> None:
    assert terminal_probability(0.0, 0.5) == pytest.approx(0.5)
    assert terminal_probability(3.0, 1e-3) == pytest.approx(1 / (1 + 0.999))
    assert terminal_probability(40.0, 1e-3) == 1.0
    assert victim_share(0, 0) == 0.5 and victim_share(3, 8) == pytest.approx(0.4)
    assert combine([0.5, 0.5]) == pytest.approx(0.75) and combine([]) == 0.0
    assert [level(x, 0.05, 0.5) for x in (0.01, 0.05, 0.6)] == ["none", "step_up", "reissue"]
    with pytest.raises(ValueError):
        CompromiseConfig(warn_at=0.6, reissue_at=0.5)


def test_cards_at_the_skimmer_are_warned_before_the_flag_then_exposed_at_one() -> None:
    history, frauds = _handmade()
    job = CompromiseJob(history, config=SMALL)
    ordered = sorted(frauds, key=lambda f: f.known_t)
    seen: dict[tuple[str, str], list[float]] = {}
    first_flag = math.inf
    for f in ordered:
        job.add_fraud(f)
        report = job.run(f.known_t)
        if report.new_flags:
            first_flag = min(first_flag, f.known_t)
        for e in report.new_exposed:
            seen.setdefault((e.card_id, e.terminal_id), []).append(e.exposure)
    # C8 and C9 used the skimmer and were never defrauded: warned, graded, before the flag ...
    early = [x for x in seen[("C8", "T0")] if x < 1.0]
    assert early and 0.0 < early[0] < 1.0
    assert seen[("C8", "T0")][-1] == 1.0 and first_flag < 40 * DAY
    # ... and nobody who never used a terminal those fraud cards used is warned at all.
    assert not any(card in {f"C{c}" for c in range(20, 200)} for card, _ in seen)


def test_a_flag_explains_its_cards_so_neighbours_warn_no_more() -> None:
    history, frauds = _handmade()
    job = CompromiseJob(history, config=SMALL)
    for f in sorted(frauds, key=lambda f: f.known_t):
        job.add_fraud(f)
        report = job.run(f.known_t)
        if [x for x in job.repo.flags() if x.terminal_id == "T0"] and not report.new_flags:
            assert all(e.terminal_id == "T0" for e in report.new_exposed)
    assert [f.terminal_id for f in job.repo.flags()] == ["T0"]


def test_early_warning_advises_reissue_once() -> None:
    history, frauds = _handmade()
    job = CompromiseJob(history, config=SMALL)
    advised: list[str] = []
    for f in sorted(frauds, key=lambda f: f.known_t):
        job.add_fraud(f)
        advised += job.run(f.known_t).reissue_advised
    assert len(advised) == len(set(advised))
    assert {"C8", "C9"} <= set(advised)
