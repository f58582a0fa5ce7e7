"""Habits of a paying entity — a card, or the account a mobile transfer leaves — and how one
payment compares with them.

Any payment data has these, whatever the bank or the data set: how much the entity usually pays
(a histogram of log-spaced amounts, so "unusually large" is a percentile of its own history, not
a fixed threshold), at what hours and on which weekdays, where (a learned usual place and
spread), with which merchants, categories, countries and channels (bounded recent sets), and how
often (decayed counts over minutes to a month). Everything reads history *before* the event,
then adds the event.

The habit slots open the state array of the step that embeds them (``HABIT_SLOTS`` of them), so
their positions are constants. The histograms never decay in place: each use is added with a
weight growing as ``exp((t - base) / HABIT_TAU)``, which gives the same shares as decaying every
bin on every use (shares are ratios) at no cost; the weights are rescaled when they grow large.
"""

from __future__ import annotations

import math
from array import array

from dunpai.risk.features.geo import haversine_km
from dunpai.risk.features.layout import BIG, NEVER, Features
from dunpai.risk.features.windows import recent_distinct, recent_touch, value_hash

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
HABIT_TAU = 90 * DAY
"""How long habits remember: a use 90 days before weighs e^-1 of one now."""
AMOUNT_EDGES = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4, 3e4, 1e5)
"""Amount histogram bin edges in major units (half-decades): 12 bins."""
N_AMT = 12
HOUR_BINS = 6
"""Four-hour bins of local time."""
WINDOWS = (("10m", 10 * MINUTE), ("1h", HOUR), ("24h", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY))
SUM_WINDOWS = (("1h", HOUR), ("24h", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY))
WEIGHT_CAP = 50.0
"""The usual place and spread are running means over (at most) the last ~50 located uses."""
RESCALE = 300.0
"""Rescale histogram weights once their exponent passes this (e^300 is far below overflow)."""

# Slot positions (the habit region opens every embedding step's state).
H_REF, H_FIRST, H_N, H_BASE = 0, 1, 2, 3
H_C10M, H_C1H, H_C24H, H_C7D, H_C30D = 4, 5, 6, 7, 8
H_S1H, H_S24H, H_S7D, H_S30D, H_SQ30D = 9, 10, 11, 12, 13
H_CEN_LAT, H_CEN_LON, H_CEN_W, H_RADIUS = 14, 15, 16, 17
H_LAST_AMOUNT, H_HIGH_7D, H_LOG30D = 18, 19, 20
H_AMT = 21  # 12 bins
H_HOUR = H_AMT + N_AMT  # 6 bins
H_WDAY = H_HOUR + HOUR_BINS  # 7 bins
H_MERCHANTS, N_MERCHANTS = H_WDAY + 7, 10  # (hash, last seen) pairs
H_CATEGORIES, N_CATEGORIES = H_MERCHANTS + 2 * N_MERCHANTS, 6
H_COUNTRIES, N_COUNTRIES = H_CATEGORIES + 2 * N_CATEGORIES, 3
H_CHANNELS, N_CHANNELS = H_COUNTRIES + 2 * N_COUNTRIES, 3
HABIT_SLOTS = H_CHANNELS + 2 * N_CHANNELS
TAU_10M, TAU_1H, TAU_24H, TAU_7D, TAU_30D = 10 * MINUTE, HOUR, DAY, 7 * DAY, 30 * DAY

SUFFIXES = (
    "count_10m", "count_1h", "count_24h", "count_7d", "count_30d", "sum_1h", "sum_24h", "sum_7d", "sum_30d",
    "history_n", "secs_since_last", "age_days", "mean_30d", "amount_ratio", "amount_z", "amount_pctl",
    "burst_24h", "hour_share", "weekday_share", "new_merchant", "merchant_secs", "merchants_24h", "new_category",
    "category_secs", "new_country", "new_channel", "km_from_usual", "radius_km", "same_amount", "high_7d",
    "amount_gratio",
)


def habit_scalars() -> list[str]:
    """Names of the habit region's slots, for the embedding step's layout (they must come first)."""
    return [f"h{i}" for i in range(HABIT_SLOTS)]


def habit_defaults() -> dict[str, float]:
    return {f"h{H_REF}": NEVER, f"h{H_FIRST}": NEVER, f"h{H_BASE}": NEVER}


def habit_names(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}_{s}" for s in SUFFIXES)


def amount_bin(amount: float) -> int:
    i = 0
    for edge in AMOUNT_EDGES:
        if amount < edge:
            return i
        i += 1
    return i


def _total(s: array[float], start: int, size: int) -> float:
    total = 0.0
    for i in range(start, start + size):
        total += s[i]
    return total


def _rank(s: array[float], start: int, size: int, index: int) -> float:
    """Mid-rank of bin ``index`` in the histogram (share below plus half its own), 0.5 if empty."""
    below = 0.0
    for i in range(start, start + index):
        below += s[i]
    total = below + _total(s, start + index, size - index)
    return (below + 0.5 * s[start + index]) / total if total > 1e-300 else 0.5


def _share(s: array[float], start: int, size: int, index: int) -> float:
    total = _total(s, start, size)
    return s[start + index] / total if total > 1e-300 else 1.0


def _decay(s: array[float], dt: float) -> None:
    if dt <= 0:
        return
    s[H_C10M] *= math.exp(-dt / TAU_10M)
    s[H_C1H] *= math.exp(-dt / TAU_1H)
    s[H_S1H] *= math.exp(-dt / TAU_1H)
    f = math.exp(-dt / TAU_24H)
    s[H_C24H] *= f
    s[H_S24H] *= f
    f = math.exp(-dt / TAU_7D)
    s[H_C7D] *= f
    s[H_S7D] *= f
    f = math.exp(-dt / TAU_30D)
    s[H_C30D] *= f
    s[H_S30D] *= f
    s[H_SQ30D] *= f
    s[H_LOG30D] *= f
    s[H_HIGH_7D] *= math.exp(-dt / TAU_7D)


def _add(s: array[float], slot: int, value: float, age: float, tau: float) -> float:
    s[slot] += value * math.exp(-age / tau) if age > 0 else value
    return s[slot]


def habit_update(s: array[float], names: tuple[str, ...], t: float, out: Features, merchant: str | None,
                 category: str | None, country: str | None, channel: str, lat: float, lon: float,
                 accuracy: float) -> None:
    """Features (named ``names``, see :func:`habit_names`) of a payment of ``out["amount"]`` at
    ``t``, then the payment joins the history. ``lat`` is NaN when the payment has no place."""
    ref = s[H_REF]
    n = s[H_N]
    _decay(s, t - ref if ref > NEVER else 0.0)
    new_ref = ref if ref > t else t
    age = new_ref - t  # > 0 only for a late event
    amount = out["amount"]
    # -- history before this event
    c30, sum30, sq30 = s[H_C30D], s[H_S30D], s[H_SQ30D]
    mean = sum30 / c30 if c30 > 1e-9 else 0.0
    var = sq30 / c30 - mean * mean if c30 > 1e-9 else 0.0
    out[names[9]] = n
    out[names[10]] = t - ref if ref > NEVER and t >= ref else BIG
    first = s[H_FIRST]
    out[names[11]] = (t - first) / DAY if NEVER < first <= t else 0.0
    out[names[12]] = mean
    out[names[13]] = amount / mean if mean > 0 else 0.0
    out[names[14]] = (amount - mean) / math.sqrt(var) if var > 1e-9 and n >= 3 else 0.0
    # Against the geometric mean: a few huge amounts (a thief's) barely move it, unlike the mean.
    log_amount = math.log1p(amount)
    out[names[30]] = math.exp(log_amount - s[H_LOG30D] / c30) if c30 > 1e-9 else 0.0
    a_bin = amount_bin(amount)
    pctl = _rank(s, H_AMT, N_AMT, a_bin)
    out[names[15]] = pctl
    h_bin = int(out["hour"] * HOUR_BINS / 24.0)
    if h_bin >= HOUR_BINS:
        h_bin = HOUR_BINS - 1
    w_bin = int(out["weekday"])
    out[names[17]] = _share(s, H_HOUR, HOUR_BINS, h_bin)
    out[names[18]] = _share(s, H_WDAY, 7, w_bin)
    # -- add this event
    out[names[0]] = _add(s, H_C10M, 1.0, age, TAU_10M)
    out[names[1]] = _add(s, H_C1H, 1.0, age, TAU_1H)
    out[names[2]] = _add(s, H_C24H, 1.0, age, TAU_24H)
    out[names[3]] = _add(s, H_C7D, 1.0, age, TAU_7D)
    out[names[4]] = _add(s, H_C30D, 1.0, age, TAU_30D)
    out[names[5]] = _add(s, H_S1H, amount, age, TAU_1H)
    out[names[6]] = _add(s, H_S24H, amount, age, TAU_24H)
    out[names[7]] = _add(s, H_S7D, amount, age, TAU_7D)
    out[names[8]] = _add(s, H_S30D, amount, age, TAU_30D)
    _add(s, H_SQ30D, amount * amount, age, TAU_30D)
    _add(s, H_LOG30D, log_amount, age, TAU_30D)
    out[names[16]] = s[H_C24H] / (1.0 + c30 / 30.0)
    # The same amount as the previous payment: scripted card testing and repeated cash-outs.
    out[names[28]] = 1.0 if n > 0 and amount == s[H_LAST_AMOUNT] else 0.0
    if age <= 0:
        s[H_LAST_AMOUNT] = amount
    # Payments in the top tenth of the entity's own amounts, lately (a stolen card's big spending).
    out[names[29]] = _add(s, H_HIGH_7D, 1.0 if n >= 5 and pctl >= 0.9 else 0.0, age, TAU_7D)
    base = s[H_BASE]
    if base <= NEVER:
        base = s[H_BASE] = t
    x = (t - base) / HABIT_TAU
    if x > RESCALE:
        _rescale(s, math.exp(-x))
        base = s[H_BASE] = t
        x = 0.0
    w = math.exp(x)
    s[H_AMT + a_bin] += w
    s[H_HOUR + h_bin] += w
    s[H_WDAY + w_bin] += w
    s[H_N] = n + 1
    s[H_REF] = new_ref
    if first <= NEVER or t < first:
        s[H_FIRST] = t
    # -- with whom, what, where
    if merchant is not None:
        seen, distinct = recent_touch(s, H_MERCHANTS, N_MERCHANTS, value_hash(merchant), t, t - DAY)
        out[names[19]] = 1.0 if n > 0 and seen < 0 else 0.0
        out[names[20]] = t - seen if 0 <= seen <= t else BIG
        out[names[21]] = float(distinct)
    else:
        out[names[19]] = 0.0
        out[names[20]] = BIG
        out[names[21]] = float(recent_distinct(s, H_MERCHANTS, N_MERCHANTS, t - DAY))
    if category is not None:
        seen = recent_touch(s, H_CATEGORIES, N_CATEGORIES, value_hash(category), t, t)[0]
        out[names[22]] = 1.0 if n > 0 and seen < 0 else 0.0
        out[names[23]] = t - seen if 0 <= seen <= t else BIG
    else:
        out[names[22]] = 0.0
        out[names[23]] = BIG
    out[names[24]] = _novel(s, H_COUNTRIES, N_COUNTRIES, country, t, n)
    out[names[25]] = _novel(s, H_CHANNELS, N_CHANNELS, channel, t, n)
    out[names[27]] = s[H_RADIUS]
    if math.isnan(lat):
        out[names[26]] = 0.0
        return
    cw = s[H_CEN_W]
    km = haversine_km(s[H_CEN_LAT], s[H_CEN_LON], lat, lon) - accuracy if cw > 0 else 0.0
    if km < 0:
        km = 0.0
    out[names[26]] = km
    wc = cw if cw < WEIGHT_CAP else WEIGHT_CAP
    s[H_CEN_LAT] = (s[H_CEN_LAT] * wc + lat) / (wc + 1.0)
    s[H_CEN_LON] = (s[H_CEN_LON] * wc + lon) / (wc + 1.0)
    s[H_RADIUS] = (s[H_RADIUS] * wc + km) / (wc + 1.0) if cw > 0 else 0.0
    s[H_CEN_W] = wc + 1.0


def histogram_rank(s: array[float], start: int, size: int, index: int) -> float:
    """The mid-rank of bin ``index`` of a growing-weight histogram (0.5 while empty)."""
    return _rank(s, start, size, index)


def histogram_add(s: array[float], base_slot: int, start: int, index: int, t: float) -> None:
    """Add one use at ``t`` to the growing-weight histogram at ``start`` (``N_AMT`` bins) whose base
    time is at ``base_slot``."""
    base = s[base_slot]
    if base <= NEVER:
        base = s[base_slot] = t
    x = (t - base) / HABIT_TAU
    if x > RESCALE:
        factor = math.exp(-x)
        for i in range(start, start + N_AMT):
            s[i] *= factor
        base = s[base_slot] = t
        x = 0.0
    s[start + index] += math.exp(x)


def _rescale(s: array[float], factor: float) -> None:
    for i in range(H_AMT, H_WDAY + 7):
        s[i] *= factor


def _novel(s: array[float], start: int, size: int, value: str | None, t: float, n: float) -> float:
    if value is None:
        return 0.0
    seen = recent_touch(s, start, size, value_hash(value), t, t)[0]
    return 1.0 if n > 0 and seen < 0 else 0.0
