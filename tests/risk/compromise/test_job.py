"""The point-of-compromise job on small worlds: it finds the skimmer, exposes the cards used there,
stays quiet without one, and its incremental and batch forms agree."""

from __future__ import annotations

import dataclasses
import functools
import math
import random

import pytest

from dunpai.risk.compromise import (
    ArrayVisitHistory,
    CompromiseConfig,
    CompromiseJob,
    FraudCard,
    fraud_card_from_label,
)
from dunpai.risk.compromise.model import DAY
from dunpai.risk.compromise.scenario import SkimmingScenario, inject, s4_demo_events, synthetic_background
from dunpai.risk.compromise.stats import binom_sf
from dunpai.risk.events.schemas import CardPresent, Label


def test_binomial_tail_known_values() -> None:
    assert binom_sf(3, 3, 0.5) == pytest.approx(0.125)
    assert binom_sf(0, 10, 0.3) == 1.0
    assert binom_sf(11, 10, 0.3) == 0.0
    assert binom_sf(1, 10, 0.3) == pytest.approx(1 - 0.7**10)
    assert binom_sf(12, 25, 0.01) == pytest.approx(4.609869311429972e-18, rel=1e-9)


SMALL = CompromiseConfig(min_window_cards=8)
"""The job's settings for worlds with ten cards at the skimmer."""


def _handmade() -> tuple[ArrayVisitHistory, list[FraudCard]]:
    """20 cards, 6 terminals; cards 0-9 used T0 on days 10-13 (the skimmer), all cards use T1-T5
    at random times; cards 0-7 are defrauded on days 25-30, card 15 (never at T0) on day 28. Ten
    cards at the skimmer are fewer than a flag's default window asks for: run it with ``SMALL``."""
    rng = random.Random(5)
    cards, terms, times = [], [], []
    for c in range(20):
        for _ in range(30):
            cards.append(f"C{c}")
            terms.append(f"T{rng.randint(1, 5)}")
            times.append(rng.uniform(0, 60) * DAY)
        if c < 10:
            cards.append(f"C{c}")
            terms.append("T0")
            times.append((10 + c * 0.3) * DAY)
    for c in range(20, 200):  # a population that never meets the skimmer
        cards.append(f"C{c}")
        terms.append(f"T{6 + c % 10}")
        times.append((c % 50) * DAY)
    frauds = [FraudCard(f"C{c}", (25 + c * 0.7) * DAY, (32 + c * 0.7) * DAY) for c in range(8)]
    frauds.append(FraudCard("C15", 28 * DAY, 35 * DAY))
    return ArrayVisitHistory.from_arrays(cards, terms, times), frauds


def test_batch_flags_the_skimmer_with_evidence_and_exposes_its_cards() -> None:
    history, frauds = _handmade()
    report = CompromiseJob.batch(history, frauds, as_of=60 * DAY, config=SMALL)
    assert [f.terminal_id for f in report.flags] == ["T0"]
    flag = report.flags[0]
    assert flag.fraud_cards == 8 and flag.window_cards >= 8
    assert flag.p_value < 0.01 and flag.score == pytest.approx(-math.log10(flag.p_value))
    assert {e.card_id for e in flag.evidence} == {f"C{c}" for c in range(8)}
    assert all(e.visit_t < e.first_fraud_t for e in flag.evidence)
    exposed = {e.card_id for e in report.new_exposed}
    assert {"C8", "C9"} <= exposed  # used there in the window, not yet defrauded
    alert = flag.to_alert()
    assert alert["test"]["p_value"] == flag.p_value and len(alert["evidence"]) == 8
    assert "侧录" in alert["summary"]["zh"] and "skimming" in alert["summary"]["en"]


def test_labels_not_yet_known_are_not_used() -> None:
    history, frauds = _handmade()
    assert CompromiseJob.batch(history, frauds, as_of=31 * DAY).flags == ()


def test_incremental_runs_agree_with_batch_and_flag_once() -> None:
    history, frauds = _handmade()
    job = CompromiseJob(history, config=SMALL)
    new = []
    for f in sorted(frauds, key=lambda f: f.known_t):
        job.add_fraud(f)
        job.add_fraud(f)  # a label delivered twice changes nothing
        new += [x.terminal_id for x in job.run(f.known_t).new_flags]
    assert new == ["T0"]
    batch = CompromiseJob.batch(history, frauds, as_of=60 * DAY, config=SMALL)
    assert [f.terminal_id for f in job.run(60 * DAY).flags] == [f.terminal_id for f in batch.flags]


def test_no_skimmer_no_flag_on_background_noise() -> None:
    background = synthetic_background(cards=200, terminals=40, days=90, uses_per_day=1.0, seed=3)
    truth = inject(background, SkimmingScenario(terminals=1, victim_share=0.01, background_per_day=0.4,
                                                delay_days_max=20, seed=3))
    history = ArrayVisitHistory.from_arrays(truth.card, truth.terminal, truth.t)
    noise = [f for f in truth.frauds if f.card_id not in truth.victims]
    assert len(noise) > 20
    assert CompromiseJob.batch(history, noise, as_of=float(truth.t.max())).flags == ()


def test_demo_events_replay_finds_a_skimmed_terminal() -> None:
    events, truth = s4_demo_events()
    assert events == sorted(events, key=lambda e: e.event_time)
    history = ArrayVisitHistory.from_events([e for e in events if isinstance(e, CardPresent)])
    job = CompromiseJob(history)
    for e in events:
        if isinstance(e, Label):
            fraud = job.on_label(e)
            assert fraud is not None and fraud.first_fraud_t < fraud.known_t
    report = job.run(events[-1].event_time.timestamp())
    flagged = {f.terminal_id for f in report.flags}
    assert flagged and flagged <= set(truth.skimmed)


def test_fraud_card_from_label_ignores_card_not_present_and_legit() -> None:
    events, _ = s4_demo_events()
    label = next(e for e in events if isinstance(e, Label))
    assert fraud_card_from_label(label.model_copy(update={"terminal_id": None})) is None
    assert fraud_card_from_label(label.model_copy(update={"fraud": False})) is None


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        CompromiseConfig(min_cards=1)
    with pytest.raises(ValueError):
        SkimmingScenario(victim_share=0)
    assert dataclasses.replace(CompromiseConfig(), alpha=0.05).alpha == 0.05


Uses = tuple[list[str], list[str], list[float]]
"""Card uses as parallel lists: cards, terminals, times."""


def _use(uses: Uses, card: int, terminal: str, day: float) -> None:
    uses[0].append(f"C{card}")
    uses[1].append(terminal)
    uses[2].append(day * DAY)


def _shoppers(rng: random.Random, cards: range, days: float) -> Uses:
    """Everyone's ordinary shopping: 20 uses a card at random terminals T1-T40."""
    rows = [(f"C{c}", f"T{rng.randint(1, 40)}", rng.uniform(0, days) * DAY) for c in cards for _ in range(20)]
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def test_a_flag_explains_its_victims_but_a_second_skimmer_nearby_is_still_found() -> None:
    """T0 skims cards 0-9 on days 10-13; the busy neighbour TN sees the same cards then and 60 others;
    a second skimmer TB on days 14-17 sees cards 0, 1 and 30-39. Frauds: cards 0-7 and 30-37."""
    rng = random.Random(11)
    uses: Uses = ([], [], [])
    use = functools.partial(_use, uses)
    for c in range(10):
        use(c, "T0", 10 + c * 0.3)
        use(c, "TN", 10 + c * 0.3 + 0.1)
    for c in range(100, 160):
        use(c, "TN", rng.uniform(8, 16))
    for c in (0, 1, *range(30, 40)):
        use(c, "TB", rng.uniform(14, 17))
    for c in (*range(40), *range(100, 300)):  # everyone's ordinary shopping elsewhere
        for _ in range(20):
            use(c, f"T{rng.randint(1, 40)}", rng.uniform(0, 60))
    frauds = [FraudCard(f"C{c}", (25 + c * 0.3) * DAY, (32 + c * 0.3) * DAY) for c in (*range(8), *range(30, 38))]
    report = CompromiseJob.batch(ArrayVisitHistory.from_arrays(*uses), frauds, as_of=60 * DAY, config=SMALL)
    assert sorted(f.terminal_id for f in report.flags) == ["T0", "TB"]


def test_a_few_fraud_cards_alone_at_a_terminal_within_hours_are_no_flag() -> None:
    """Cards 0-3, later defrauded, used TQ within two hours and nobody else did: the binomial null
    finds that very unlikely, yet a skimmer's victims do it at their neighbourhood's terminals; a
    flag needs a window that ``min_window_cards`` cards used."""
    uses = _shoppers(random.Random(3), range(300), 60)
    for c in range(4):
        _use(uses, c, "TQ", 12 + c * 0.02)
    frauds = [FraudCard(f"C{c}", (25 + c) * DAY, (32 + c) * DAY) for c in range(4)]
    history = ArrayVisitHistory.from_arrays(*uses)
    assert CompromiseJob.batch(history, frauds, as_of=60 * DAY).flags == ()
    no_minimum = CompromiseConfig(min_window_cards=0)
    assert [f.terminal_id for f in CompromiseJob.batch(history, frauds, 60 * DAY, config=no_minimum).flags] == ["TQ"]


def test_a_flag_keeps_its_window_and_a_later_skimmer_among_its_regulars_is_found() -> None:
    """T0 skims cards 0-9 on days 10-13 (0-7 defrauded; ten others used it then). On days 40-43 a
    second skimmer TB (also used by six others) skims cards 20-29, T0's regulars, who use T0 then too
    with two others; their labels arrive together. T0's window of days 40-43 is then its most
    significant, but its flag stays on days 10-13 and TB is flagged on cards 20-29."""
    uses = _shoppers(random.Random(8), range(300), 70)
    use = functools.partial(_use, uses)
    for c in range(10):
        use(c, "T0", 10 + c * 0.3)
        use(220 + c, "T0", 10 + c * 0.3 + 0.1)
    for c in range(20, 30):
        use(c, "TB", 40 + (c - 20) * 0.3)
        use(c, "T0", 40 + (c - 20) * 0.3 + 0.1)
    for c in (200, 201):
        use(c, "T0", 41.5)
    for c in range(210, 216):
        use(c, "TB", 41.5)
    frauds = [FraudCard(f"C{c}", (25 + c * 0.3) * DAY, (32 + c * 0.3) * DAY) for c in range(8)]
    frauds += [FraudCard(f"C{c}", (50 + (c - 20) * 0.1) * DAY, 58 * DAY) for c in range(20, 30)]
    job = CompromiseJob(ArrayVisitHistory.from_arrays(*uses))
    new = []
    for known_t in sorted({f.known_t for f in frauds}):
        for f in frauds:
            if f.known_t == known_t:
                job.add_fraud(f)
        new += [x.terminal_id for x in job.run(known_t).new_flags]
    assert new == ["T0", "TB"]
    flags = {f.terminal_id: f for f in job.repo.flags()}
    assert 10 * DAY <= flags["T0"].window_start <= flags["T0"].window_end <= 13 * DAY
    assert {e.card_id for e in flags["TB"].evidence} == {f"C{c}" for c in range(20, 30)}
