"""Per-card online state: velocity, amount habits, geo-velocity, EMV counters, deposits, novelty.

Keyed by ``card_id`` (a keyed token, never the card number). All windows are time-decayed
(see ``windows``); ``count_1h`` reads "about how many uses in the last hour".
"""

from __future__ import annotations

import math
from array import array
from typing import Any, ClassVar

from dunpai.risk.events.schemas import CardNotPresent, CardPresent, Label
from dunpai.risk.features.geo import haversine_km, speed_kmh
from dunpai.risk.features.layout import BIG, NEVER, Features, Layout
from dunpai.risk.features.windows import (
    DecayGroups,
    decay_add,
    decay_groups,
    decay_to,
    recent_add,
    recent_distinct,
    recent_seen,
    recent_touch,
    value_hash,
)

HOUR, DAY = 3600.0, 86400.0
TAUS = (("1h", HOUR), ("24h", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY))


def _decay_slots(slot: dict[str, int]) -> tuple[tuple[int, float], ...]:
    pairs = [(slot[f"{k}_{w}"], tau) for k in ("count", "sum") for w, tau in TAUS]
    return (*pairs, (slot["sumsq_30d"], 30 * DAY))


def _window_slots(slot: dict[str, int]) -> tuple[tuple[int, int, float, str], ...]:
    return tuple((slot[f"count_{w}"], slot[f"sum_{w}"], tau, f"card_count_{w}") for w, tau in TAUS)


class CardStep:
    name: ClassVar[str] = "card"
    applies_to: ClassVar[tuple[type, ...]] = (CardPresent, CardNotPresent, Label)
    layout: ClassVar[Layout] = Layout(
        ["ref", "n", *(f"count_{w}" for w, _ in TAUS), *(f"sum_{w}" for w, _ in TAUS), "sumsq_30d",
         "cp_t", "cp_lat", "cp_lon", "atc", "dep_t", "dep_amount", "dep_lat", "dep_lon", "fraud_t"],
        sets={"terminals": 16, "cities": 6},
        defaults={"ref": NEVER, "cp_t": NEVER, "atc": -1.0, "dep_t": NEVER, "fraud_t": NEVER},
    )
    _S: ClassVar[dict[str, int]] = layout.slot
    _DECAY: ClassVar[DecayGroups] = decay_groups(_decay_slots(layout.slot))
    _WINDOWS: ClassVar[tuple[tuple[int, int, float, str], ...]] = _window_slots(layout.slot)
    _FEATURES: ClassVar[tuple[str, ...]] = (
        "card_count_1h", "card_count_24h", "card_count_7d", "card_count_30d", "card_sum_24h", "card_sum_7d",
        "card_history_n", "card_mean_30d", "card_amount_ratio", "card_amount_z", "card_secs_since_last",
        "card_km_from_last_cp", "card_secs_since_last_cp", "card_speed_kmh", "card_new_terminal",
        "card_new_city", "card_terminals_24h", "card_atc_backwards", "card_atc_jump", "card_deposit_secs",
        "card_deposit_km", "card_fraud_known",
    )

    def key(self, event: Any) -> str | None:
        if isinstance(event, (CardPresent, CardNotPresent, Label)):
            return event.card_id
        return None

    def feature_names(self) -> tuple[str, ...]:
        return self._FEATURES

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        ref = s[C_REF]
        if isinstance(event, Label):
            if event.fraud:
                s[C_FRAUD_T] = max(s[C_FRAUD_T], t)
            return s
        # Read the history before this event.
        n = s[C_N]
        dt = t - ref if ref > NEVER else 0.0
        decay_to(s, self._DECAY, dt)
        new_ref = max(ref, t)
        age = new_ref - t  # > 0 only for a late event
        amount = out["amount"]
        cnt30, sum30, sq30 = s[C_COUNT_30D], s[C_SUM_30D], s[C_SUMSQ_30D]
        mean = sum30 / cnt30 if cnt30 > 1e-9 else 0.0
        var = max(sq30 / cnt30 - mean * mean, 0.0) if cnt30 > 1e-9 else 0.0
        out["card_history_n"] = n
        out["card_mean_30d"] = mean
        out["card_amount_ratio"] = amount / mean if mean > 0 else 0.0
        out["card_amount_z"] = (amount - mean) / math.sqrt(var) if var > 1e-9 and n >= 3 else 0.0
        out["card_secs_since_last"] = t - ref if ref > NEVER else BIG
        out["card_fraud_known"] = 1.0 if s[C_FRAUD_T] > NEVER and s[C_FRAUD_T] <= t else 0.0
        # Add this event.
        for count_slot, sum_slot, tau, name in self._WINDOWS:
            w = math.exp(-age / tau) if age > 0 else 1.0
            s[count_slot] += w
            s[sum_slot] += amount * w
            out[name] = s[count_slot]
        decay_add(s, C_SUMSQ_30D, 30 * DAY, amount * amount, age)
        s[C_N] = n + 1
        s[C_REF] = new_ref
        out["card_sum_24h"] = s[C_SUM_24H]
        out["card_sum_7d"] = s[C_SUM_7D]
        if isinstance(event, CardPresent):
            self._card_present(s, event, t, out)
        else:
            for name in ("card_km_from_last_cp", "card_speed_kmh", "card_new_terminal", "card_new_city",
                         "card_atc_backwards", "card_atc_jump", "card_deposit_km"):
                out[name] = 0.0
            out["card_secs_since_last_cp"] = out["card_deposit_secs"] = BIG
            start, size = C_TERMINALS
            out["card_terminals_24h"] = float(recent_distinct(s, start, size, t - DAY))
        return s

    def _card_present(self, s: array[float], event: CardPresent, t: float, out: Features) -> None:
        loc = event.terminal_location
        cp_t = s[C_CP_T]
        km = secs = 0.0
        if loc is not None and cp_t > NEVER:
            km = haversine_km(s[C_CP_LAT], s[C_CP_LON], loc.lat, loc.lon)
            secs = abs(t - cp_t)
        out["card_km_from_last_cp"] = km
        out["card_secs_since_last_cp"] = secs if cp_t > NEVER else BIG
        out["card_speed_kmh"] = speed_kmh(km, secs) if km > 0 else 0.0
        if loc is not None and t >= cp_t:
            s[C_CP_T], s[C_CP_LAT], s[C_CP_LON] = t, loc.lat, loc.lon
        start, size = C_TERMINALS
        h = value_hash(event.terminal_id)
        seen, distinct = recent_touch(s, start, size, h, t, t - DAY)
        out["card_new_terminal"] = 1.0 if s[C_N] > 1 and seen < 0 else 0.0
        out["card_terminals_24h"] = float(distinct)
        cstart, csize = C_CITIES
        if loc is not None and loc.city:
            ch = value_hash(loc.city)
            out["card_new_city"] = 1.0 if s[C_N] > 1 and recent_seen(s, cstart, csize, ch) < 0 else 0.0
            recent_add(s, cstart, csize, ch, t)
        else:
            out["card_new_city"] = 0.0
        # EMV application transaction counter: it only ever increases on a genuine chip.
        last_atc = s[C_ATC]
        backwards = jump = 0.0
        if event.atc is not None and event.pos_entry_mode in ("05", "07"):
            if last_atc >= 0:
                if event.atc <= last_atc:
                    backwards = 1.0
                else:
                    jump = event.atc - last_atc - 1
            s[C_ATC] = max(last_atc, float(event.atc))
        out["card_atc_backwards"], out["card_atc_jump"] = backwards, jump
        dep_t = s[C_DEP_T]
        out["card_deposit_secs"] = t - dep_t if dep_t > NEVER and t >= dep_t else BIG
        out["card_deposit_km"] = (haversine_km(s[C_DEP_LAT], s[C_DEP_LON], loc.lat, loc.lon)
                                  if loc is not None and dep_t > NEVER else 0.0)
        if event.txn == "atm_deposit" and loc is not None:
            s[C_DEP_T], s[C_DEP_AMOUNT] = t, out["amount"]
            s[C_DEP_LAT], s[C_DEP_LON] = loc.lat, loc.lon


# Slot numbers as module constants: the hot path indexes arrays without dict look-ups.
_C_SLOTS = CardStep.layout.slot
C_TERMINALS = CardStep.layout.sets["terminals"]
C_CITIES = CardStep.layout.sets["cities"]
C_ATC = _C_SLOTS["atc"]
C_COUNT_30D = _C_SLOTS["count_30d"]
C_CP_LAT = _C_SLOTS["cp_lat"]
C_CP_LON = _C_SLOTS["cp_lon"]
C_CP_T = _C_SLOTS["cp_t"]
C_DEP_AMOUNT = _C_SLOTS["dep_amount"]
C_DEP_LAT = _C_SLOTS["dep_lat"]
C_DEP_LON = _C_SLOTS["dep_lon"]
C_DEP_T = _C_SLOTS["dep_t"]
C_FRAUD_T = _C_SLOTS["fraud_t"]
C_N = _C_SLOTS["n"]
C_REF = _C_SLOTS["ref"]
C_SUM_24H = _C_SLOTS["sum_24h"]
C_SUM_30D = _C_SLOTS["sum_30d"]
C_SUM_7D = _C_SLOTS["sum_7d"]
C_SUMSQ_30D = _C_SLOTS["sumsq_30d"]
