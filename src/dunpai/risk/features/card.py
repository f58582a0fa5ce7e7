"""Per-card online state: the card's habits, card-present geography, EMV counters, deposits, and
its lifecycle (a confirmed fraud blocks the card until it is reissued or unblocked).

Keyed by ``card_id`` (a keyed token, never the card number). Counts are time-decayed
(``card_count_1h`` reads "about how many uses in the last hour"); see ``habit`` for the habit
features every paying entity has.
"""

from __future__ import annotations

import math
from array import array
from typing import Any, ClassVar

from dunpai.risk.events.schemas import CardEvent, CardNotPresent, CardPresent, Label
from dunpai.risk.features.event import channel_of, event_location
from dunpai.risk.features.geo import haversine_km, speed_kmh
from dunpai.risk.features.habit import DAY, H_N, habit_defaults, habit_names, habit_scalars, habit_update
from dunpai.risk.features.layout import BIG, NEVER, Features, Layout
from dunpai.risk.features.windows import recent_add, recent_seen, value_hash

NAN = float("nan")
_CARD_SCALARS = ["cp_t", "cp_lat", "cp_lon", "cp_acc", "jumps_30d", "atc", "dep_t", "dep_amount", "dep_lat",
                 "dep_lon", "fraud_t", "frauds", "blocked_t", "unblocked_t"]
IMPOSSIBLE_KMH = 300.0
"""Faster than an airliner's average door to door: two card-present uses this far apart this fast are
impossible for one card."""


class CardStep:
    name: ClassVar[str] = "card"
    applies_to: ClassVar[tuple[type, ...]] = (CardPresent, CardNotPresent, Label, CardEvent)
    layout: ClassVar[Layout] = Layout(
        [*habit_scalars(), *_CARD_SCALARS],
        sets={"cities": 3},
        defaults={**habit_defaults(), "cp_t": NEVER, "atc": -1.0, "dep_t": NEVER, "fraud_t": NEVER,
                  "blocked_t": NEVER, "unblocked_t": NEVER},
    )
    HABIT: ClassVar[tuple[str, ...]] = habit_names("card")
    OWN: ClassVar[tuple[str, ...]] = (
        "card_km_from_last_cp", "card_secs_since_last_cp", "card_speed_kmh", "card_impossible_30d", "card_new_city",
        "card_atc_backwards",
        "card_atc_jump", "card_deposit_secs", "card_deposit_km", "card_blocked", "card_frauds_known",
        "card_secs_since_fraud", "card_fraud_rate",
    )

    def key(self, event: Any) -> str | None:
        if isinstance(event, (CardPresent, CardNotPresent, Label, CardEvent)):
            return event.card_id
        return None

    def feature_names(self) -> tuple[str, ...]:
        return (*self.HABIT, *self.OWN)

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        if isinstance(event, Label):
            if event.fraud:
                s[C_FRAUD_T] = max(s[C_FRAUD_T], t)
                s[C_FRAUDS] += 1.0
                target = event.target_event_time
                # A late label about a use before the card was reissued does not block the new card.
                if event.blocks_card and (target is None or target.timestamp() >= s[C_UNBLOCKED_T]):
                    s[C_BLOCKED_T] = max(s[C_BLOCKED_T], t)
            return s
        if isinstance(event, CardEvent):
            if event.action == "block":
                s[C_BLOCKED_T] = max(s[C_BLOCKED_T], t)
            else:
                s[C_UNBLOCKED_T] = max(s[C_UNBLOCKED_T], t)
            return s
        n = s[C_N]
        blocked_t = s[C_BLOCKED_T]
        out["card_blocked"] = 1.0 if NEVER < blocked_t <= t and blocked_t > s[C_UNBLOCKED_T] else 0.0
        out["card_frauds_known"] = s[C_FRAUDS]
        out["card_secs_since_fraud"] = t - s[C_FRAUD_T] if NEVER < s[C_FRAUD_T] <= t else BIG
        out["card_fraud_rate"] = s[C_FRAUDS] / n if n > 0 else 0.0
        loc = event_location(event)
        lat = lon = NAN
        accuracy = 0.0
        if loc is not None:
            lat, lon = loc.lat, loc.lon
            accuracy = loc.accuracy_km or 0.0
        merchant = event.merchant_id
        if isinstance(event, CardPresent):
            merchant = merchant or event.terminal_id
        habit_update(s, self.HABIT, t, out, merchant, event.category or event.mcc, event.country,
                     channel_of(event), lat, lon, accuracy)
        if isinstance(event, CardPresent):
            self._card_present(s, event, t, out)
        else:
            for name in ("card_km_from_last_cp", "card_speed_kmh", "card_new_city", "card_atc_backwards",
                         "card_atc_jump", "card_deposit_km"):
                out[name] = 0.0
            out["card_impossible_30d"] = 0.0
            out["card_secs_since_last_cp"] = out["card_deposit_secs"] = BIG
        return s

    def _card_present(self, s: array[float], event: CardPresent, t: float, out: Features) -> None:
        loc = event.terminal_location
        cp_t = s[C_CP_T]
        km = secs = 0.0
        if loc is not None and cp_t > NEVER:
            # Two fixes of uncertain places may be closer than their centres: subtract both radii.
            raw = haversine_km(s[C_CP_LAT], s[C_CP_LON], loc.lat, loc.lon)
            km = max(raw - s[C_CP_ACC] - (loc.accuracy_km or 0.0), 0.0)
            secs = abs(t - cp_t)
        speed = speed_kmh(km, secs) if km > 0 else 0.0
        out["card_km_from_last_cp"] = km
        out["card_secs_since_last_cp"] = secs if cp_t > NEVER else BIG
        out["card_speed_kmh"] = speed
        # How often this card's places already implied impossible travel: where a data source's
        # places are coarse, every card keeps "jumping", and one more jump says nothing.
        since = t - cp_t if cp_t > NEVER and t > cp_t else 0.0
        s[C_JUMPS_30D] *= math.exp(-since / (30 * DAY))
        out["card_impossible_30d"] = s[C_JUMPS_30D]
        if speed > IMPOSSIBLE_KMH and km > max(50.0, 3.0 * out["card_radius_km"]):
            s[C_JUMPS_30D] += 1.0
        if loc is not None and t >= cp_t:
            s[C_CP_T], s[C_CP_LAT], s[C_CP_LON], s[C_CP_ACC] = t, loc.lat, loc.lon, loc.accuracy_km or 0.0
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
C_CITIES = CardStep.layout.sets["cities"]
C_N = H_N
C_ATC = _C_SLOTS["atc"]
C_CP_LAT = _C_SLOTS["cp_lat"]
C_CP_LON = _C_SLOTS["cp_lon"]
C_CP_ACC = _C_SLOTS["cp_acc"]
C_JUMPS_30D = _C_SLOTS["jumps_30d"]
C_CP_T = _C_SLOTS["cp_t"]
C_DEP_AMOUNT = _C_SLOTS["dep_amount"]
C_DEP_LAT = _C_SLOTS["dep_lat"]
C_DEP_LON = _C_SLOTS["dep_lon"]
C_DEP_T = _C_SLOTS["dep_t"]
C_FRAUD_T = _C_SLOTS["fraud_t"]
C_FRAUDS = _C_SLOTS["frauds"]
C_BLOCKED_T = _C_SLOTS["blocked_t"]
C_UNBLOCKED_T = _C_SLOTS["unblocked_t"]
