"""Skimming scenarios: on the Fraud Detection Handbook's legitimate history (background), some
terminals carry a skimmer for some days; a share of the cards used there then suffer counterfeit
fraud later, elsewhere, after a delay of days to weeks; labels become known some days after each
fraud. Unrelated counterfeit frauds (cards compromised outside our network) are added as noise.

Everything random comes from ``numpy.random.default_rng(seed)``: the same parameters give the same
scenario. ``s4_demo_events`` builds a small self-contained version as schema events for the demo.
"""

from __future__ import annotations

import glob
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dunpai.risk.compromise.model import DAY, FraudCard
from dunpai.risk.events.schemas import CardPresent, Label, Location

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SkimmingScenario:
    """The documented default scenario; every field is a command-line option of ``dunpai eval compromise``."""

    terminals: int = 20
    skim_days_min: float = 7.0
    skim_days_max: float = 21.0
    victim_share: float = 0.5
    delay_days_min: float = 2.0
    delay_days_max: float = 35.0
    label_delay_days: float = 7.0
    background_per_day: float = 0.5
    busiest_share: float = 0.25
    seed: int = 20180401

    def __post_init__(self) -> None:
        if not (
            0 < self.skim_days_min <= self.skim_days_max
            and 0 <= self.delay_days_min <= self.delay_days_max
            and 0 < self.victim_share <= 1
            and self.terminals >= 1
            and self.background_per_day >= 0
            and 0 < self.busiest_share <= 1
            and self.label_delay_days >= 0
        ):
            raise ValueError("invalid skimming scenario")


@dataclass
class Background:
    """Card-present uses as parallel arrays (card, terminal, epoch seconds), sorted by time; the
    terminals' places on the map (a row per terminal) when known."""

    card: npt.NDArray[np.int64]
    terminal: npt.NDArray[np.int64]
    t: F64
    n_terminals: int
    terminal_xy: F64 | None = None


@dataclass
class InjectedScenario:
    scenario: SkimmingScenario
    card: list[str]
    terminal: list[str]
    t: F64
    frauds: list[FraudCard]
    skimmed: dict[str, tuple[float, float]]
    victims: dict[str, tuple[str, float, float]]
    """card -> (skimmed terminal, skimmed use time, first fraud time)."""
    background_frauds: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": asdict(self.scenario),
            "uses": len(self.t),
            "skimmed_terminals": len(self.skimmed),
            "victims": len(self.victims),
            "background_fraud_cards": len(self.background_frauds),
        }


def load_handbook_background(data_dir: Path) -> Background:
    """The Handbook's legitimate transactions (fraud rows dropped): customers play cards."""
    import polars as pl

    files = sorted(glob.glob(str(data_dir / "transactions-*.parquet")))
    if not files:
        raise FileNotFoundError(f"no transactions-*.parquet under {data_dir}")
    df = (
        pl.concat(
            [pl.read_parquet(f, columns=["TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_FRAUD"]) for f in files]
        )
        .filter(pl.col("TX_FRAUD") == 0)
        .sort("TX_DATETIME")
    )
    t = df["TX_DATETIME"].dt.replace_time_zone("UTC").dt.epoch("s").to_numpy().astype(np.float64)
    terminals_file = data_dir / "terminals.parquet"
    places = pl.read_parquet(terminals_file) if terminals_file.exists() else None
    n_terminals = max(places.height if places is not None else 0, int(df["TERMINAL_ID"].to_numpy().max()) + 1)
    xy: F64 | None = None
    if places is not None:
        ids = places["TERMINAL_ID"].to_numpy().astype(np.int64)
        xy = np.full((n_terminals, 2), np.nan)
        xy[ids, 0] = places["x_terminal_id"].to_numpy()
        xy[ids, 1] = places["y_terminal_id"].to_numpy()
        if np.isnan(xy).any():
            xy = None  # a terminal without a place: the traffic levels cannot merge neighbours
    return Background(
        df["CUSTOMER_ID"].to_numpy().astype(np.int64), df["TERMINAL_ID"].to_numpy().astype(np.int64), t, n_terminals,
        xy,
    )


def inject(background: Background, scenario: SkimmingScenario) -> InjectedScenario:
    """Put skimmers on terminals of ``background`` and the resulting counterfeit frauds after it."""
    rng = np.random.default_rng(scenario.seed)
    card, term, t = background.card, background.terminal, background.t
    t0, t1 = float(t.min()), float(t.max())
    # Skimmers go where the traffic is: the busiest share of terminals.
    counts = np.bincount(term, minlength=background.n_terminals)
    busy = np.argsort(-counts, kind="stable")[: max(int(len(counts) * scenario.busiest_share), scenario.terminals)]
    chosen = rng.choice(busy, size=scenario.terminals, replace=False)
    latest_start = t1 - (scenario.skim_days_max + scenario.delay_days_max + scenario.label_delay_days) * DAY
    earliest_start = t0 + (scenario.delay_days_max + 7) * DAY  # history before the skimming to compare with
    skimmed: dict[str, tuple[float, float]] = {}
    victims: dict[str, tuple[str, float, float]] = {}
    order = np.argsort(term, kind="stable")
    ptr = np.searchsorted(term[order], np.arange(background.n_terminals + 1))
    for terminal in chosen.tolist():
        start = float(rng.uniform(earliest_start, latest_start))
        end = start + float(rng.uniform(scenario.skim_days_min, scenario.skim_days_max)) * DAY
        skimmed[f"T{terminal}"] = (start, end)
        idx = order[ptr[terminal] : ptr[terminal + 1]]
        sel = idx[(t[idx] >= start) & (t[idx] < end)]
        first_use: dict[int, float] = {}
        for c, when in zip(card[sel].tolist(), t[sel].tolist(), strict=True):
            first_use[c] = min(first_use.get(c, when), when)
        for c in sorted(first_use):
            name = f"C{c}"
            if name in victims or rng.random() >= scenario.victim_share:
                continue
            fraud_t = first_use[c] + float(rng.uniform(scenario.delay_days_min, scenario.delay_days_max)) * DAY
            victims[name] = (f"T{terminal}", first_use[c], fraud_t)
    all_cards = np.unique(card)
    n_background = int(rng.poisson(scenario.background_per_day * (t1 - t0) / DAY))
    pool = np.array([c for c in all_cards.tolist() if f"C{c}" not in victims])
    background_cards = [f"C{c}" for c in rng.choice(pool, size=min(n_background, len(pool)), replace=False)]
    background_times = rng.uniform(t0 + 30 * DAY, t1, size=len(background_cards))
    label = scenario.label_delay_days * DAY
    frauds = [FraudCard(c, f, f + label) for c, (_, _, f) in victims.items()]
    frauds += [
        FraudCard(c, float(f), float(f) + label) for c, f in zip(background_cards, background_times, strict=True)
    ]
    # The counterfeit uses themselves happen elsewhere: a random terminal, at the fraud time.
    fraud_terms = rng.integers(0, background.n_terminals, size=len(frauds))
    cards_out = [f"C{c}" for c in card.tolist()] + [f.card_id for f in frauds]
    terms_out = [f"T{x}" for x in term.tolist()] + [f"T{x}" for x in fraud_terms.tolist()]
    t_out = np.concatenate([t, np.array([f.first_fraud_t for f in frauds], dtype=np.float64)])
    frauds.sort(key=lambda f: (f.known_t, f.card_id))
    return InjectedScenario(scenario, cards_out, terms_out, t_out, frauds, skimmed, victims, background_cards)


# --- a small, self-contained scenario for the demo and the tests ------------------------------------
def synthetic_background(
    cards: int = 400, terminals: int = 60, days: int = 120, uses_per_day: float = 1.5, seed: int = 1
) -> Background:
    """Handbook-like traffic without the data set: cards on a grid use terminals within a radius of home."""
    rng = np.random.default_rng(seed)
    home = rng.uniform(0, 100, size=(cards, 2))
    where = rng.uniform(0, 100, size=(terminals, 2))
    t0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    rows_c: list[int] = []
    rows_t: list[int] = []
    rows_time: list[float] = []
    for c in range(cards):
        dist = np.hypot(*(where - home[c]).T)
        near = np.flatnonzero(dist < 25)
        if len(near) == 0:
            near = np.argsort(dist)[:3]
        n = int(rng.poisson(uses_per_day * days))
        rows_c += [c] * n
        rows_t += rng.choice(near, size=n).tolist()
        rows_time += (t0 + rng.uniform(0, days * DAY, size=n)).tolist()
    order = np.argsort(rows_time, kind="stable")
    return Background(
        np.asarray(rows_c, dtype=np.int64)[order],
        np.asarray(rows_t, dtype=np.int64)[order],
        np.asarray(rows_time, dtype=np.float64)[order],
        terminals,
        where,
    )


def s4_demo_events(
    seed: int = 7, cards: int = 200, terminals: int = 60, days: int = 90, skimmed_terminals: int = 2
) -> tuple[list[CardPresent | Label], InjectedScenario]:
    """The S4 demo as schema events, in event-time order: ATM/POS uses (``CardPresent``, chip reads for
    genuine uses, magnetic-stripe reads for the counterfeit cash-outs) and fraud ``Label``s arriving
    after the label delay; with the ground truth (which terminals were skimmed, who the victims are)."""
    background = synthetic_background(cards, terminals, days, uses_per_day=1.0, seed=seed)
    scenario = SkimmingScenario(
        terminals=skimmed_terminals,
        skim_days_min=10,
        skim_days_max=14,
        victim_share=0.6,
        delay_days_min=2,
        delay_days_max=21,
        background_per_day=0.05,
        busiest_share=0.5,
        seed=seed,
    )
    truth = inject(background, scenario)
    fraud_at = {f.card_id: f.first_fraud_t for f in truth.frauds}
    fraud_event: dict[str, tuple[str, str]] = {}
    events: list[tuple[float, int, CardPresent | Label]] = []
    for i, (c, term, when) in enumerate(zip(truth.card, truth.terminal, truth.t.tolist(), strict=True)):
        counterfeit = fraud_at.get(c) == when
        if counterfeit:
            fraud_event[c] = (f"s4-cp-{i}", term)
        n = int(term[1:])
        events.append(
            (
                when,
                0,
                CardPresent(
                    event_id=f"s4-cp-{i}",
                    event_time=datetime.fromtimestamp(when, UTC),
                    txn="atm_withdrawal" if counterfeit else "pos_purchase",
                    card_id=c,
                    account_id=f"A{c[1:]}",
                    customer_id=f"P{c[1:]}",
                    terminal_id=term,
                    pos_entry_mode="90" if counterfeit else "05",
                    chip_card=True,
                    amount=Decimal(300_000 if counterfeit else 12_000),
                    terminal_location=Location(lat=22.8 + n % 10 * 0.01, lon=108.3 + n // 10 * 0.01, city="南宁"),
                ),
            )
        )
    for j, f in enumerate(truth.frauds):
        target, term = fraud_event[f.card_id]
        events.append(
            (
                f.known_t,
                1,
                Label(
                    event_id=f"s4-label-{j}",
                    event_time=datetime.fromtimestamp(f.known_t, UTC),
                    target_event_id=target,
                    fraud=True,
                    source="customer_claim",
                    card_id=f.card_id,
                    terminal_id=term,
                    target_event_time=datetime.fromtimestamp(f.first_fraud_t, UTC),
                ),
            )
        )
    events.sort(key=lambda x: (x[0], x[1]))
    return [e for _, _, e in events], truth
