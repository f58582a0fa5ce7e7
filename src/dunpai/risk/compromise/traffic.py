"""Terminal traffic levels: the Handbook's terminals each see about one card a day, real ATMs and
supermarket tills tens to hundreds. :func:`at_traffic` turns a background into a busier one by a
documented transformation of the data, so the skimmer hunt can be measured at the traffic real
terminals see, with everything else unchanged.

The transformation: the map is cut into square cells and every terminal standing in a cell becomes
one physical terminal (the cell's), as if the neighbouring terminals of a street were one busy ATM.
The cell side is found by bisection so that the physical terminals see, on average, the requested
number of different cards a day (:func:`cards_per_terminal_day`). Every use is kept: its card and
time are unchanged, only its terminal is renamed; the renaming depends only on the terminals'
places and the requested level, so the same inputs give the same terminals.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import numpy.typing as npt

from dunpai.risk.compromise.model import DAY
from dunpai.risk.compromise.scenario import Background

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

TOLERANCE = 0.1
"""How close (relative) the reached traffic must be to the requested one."""


def cards_per_terminal_day(card: I64, terminal: I64, t: F64) -> float:
    """Mean number of different cards a terminal sees per day: distinct (terminal, card, day) over
    (terminals with any use × days spanned)."""
    if len(t) == 0:
        return 0.0
    day = np.floor(t / DAY).astype(np.int64)
    day -= int(day.min())
    days = int(day.max()) + 1
    cards = int(card.max()) + 1
    key = (terminal.astype(np.int64) * cards + card) * days + day
    return len(np.unique(key)) / (len(np.unique(terminal)) * days)


def cell_of(xy: F64, side: float) -> I64:
    """Each place's square cell of ``side`` (cells numbered 0.. in the order of their position)."""
    if side <= 0:
        raise ValueError("cell side must be positive")
    lo = xy.min(axis=0)
    ij = np.floor((xy - lo) / side).astype(np.int64)
    width = int(ij[:, 1].max()) + 1
    _, cell = np.unique(ij[:, 0] * width + ij[:, 1], return_inverse=True)
    return cell.astype(np.int64).reshape(-1)


def merge_map(
    card: I64, terminal: I64, t: F64, xy: F64, target: float, tolerance: float = TOLERANCE
) -> tuple[I64, float]:
    """The physical terminal of every terminal (an array indexed by terminal) and the traffic reached.

    Raises ``ValueError`` when the target is below the data's own traffic (terminals are merged,
    never split) or cannot be reached within ``tolerance``.
    """
    if target <= 0 or tolerance <= 0:
        raise ValueError("traffic and tolerance must be positive")
    # Deduplicate first: only (terminal, card, day) matters to the measure.
    day = np.floor(t / DAY).astype(np.int64)
    day -= int(day.min()) if len(day) else 0
    days = int(day.max()) + 1 if len(day) else 1
    cards = int(card.max()) + 1 if len(card) else 1
    triples = np.unique((terminal.astype(np.int64) * cards + card) * days + day)
    u_term, u_card, u_day = triples // (cards * days), (triples // days) % cards, triples % days

    def level(mapping: I64) -> float:
        return cards_per_terminal_day(u_card, mapping[u_term], u_day.astype(np.float64) * DAY)

    identity = np.arange(len(xy), dtype=np.int64)
    own = level(identity)
    if target <= own * (1 + tolerance):
        if target < own * (1 - tolerance):
            raise ValueError(f"the data's terminals already see {own:.2f} cards a day; they are never split")
        return identity, own
    span = float(np.ptp(xy, axis=0).max()) or 1.0
    lo, hi = span / math.sqrt(len(xy)) / 8, span * 2
    best: tuple[float, I64, float] = (math.inf, identity, own)
    for _ in range(60):
        side = math.sqrt(lo * hi)
        mapping = cell_of(xy, side)
        reached = level(mapping)
        miss = abs(reached / target - 1)
        if miss < best[0]:
            best = (miss, mapping, reached)
        if miss <= tolerance / 4:
            break
        lo, hi = (side, hi) if reached < target else (lo, side)
    if best[0] > tolerance:
        raise ValueError(f"{target} cards a day cannot be reached by merging (closest {best[2]:.2f})")
    return best[1], best[2]


def at_traffic(background: Background, cards_per_day: float, tolerance: float = TOLERANCE) -> Background:
    """``background`` with neighbouring terminals merged so each sees about ``cards_per_day`` cards a
    day (see the module's docstring); the same object when its own traffic already is that level."""
    xy = background.terminal_xy
    if xy is None:
        raise ValueError("the terminals' places are needed to merge neighbours (terminals.parquet)")
    mapping, _ = merge_map(background.card, background.terminal, background.t, xy, cards_per_day, tolerance)
    if np.array_equal(mapping, np.arange(len(mapping))):
        return background
    n = int(mapping.max()) + 1
    centres = np.zeros((n, 2))
    np.add.at(centres, mapping, xy)
    centres /= np.bincount(mapping, minlength=n)[:, None]
    return dataclasses.replace(
        background, terminal=mapping[background.terminal], n_terminals=n, terminal_xy=centres
    )
