"""Keyed state of the other entities: account, payer habits, terminal, merchant, device, payee, IP,
category, the bank's text attributes, employee.

Entities many customers meet (terminals, merchants, devices, payees, IPs, categories, attribute
values) learn from *arrived* labels: a fraud label counts from the moment it arrives (its event
time), never before, and a small ring of the entity's latest uses remembers which of them were
later confirmed as fraud — a skimmed terminal shows as a run of them.
"""

from __future__ import annotations

import math
from array import array
from typing import Any, ClassVar

from dunpai.risk.events.schemas import CardNotPresent, CardPresent, Label, Login, MobileTransfer, StaffAccess
from dunpai.risk.features.event import STRIPE_MODES, channel_of, event_location
from dunpai.risk.features.geo import haversine_km
from dunpai.risk.features.habit import (
    N_AMT,
    amount_bin,
    habit_defaults,
    habit_names,
    habit_scalars,
    habit_update,
    histogram_add,
    histogram_rank,
)
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


def _advance(s: array[float], decay: tuple[tuple[float, tuple[int, ...]], ...], t: float) -> float:
    """Move slot 0 (the reference time) to ``max(ref, t)``; return the event's age (late events)."""
    ref = s[0]
    decay_to(s, decay, t - ref if ref > NEVER else 0.0)
    s[0] = max(ref, t)
    return s[0] - t


class AccountStep:
    """Balance drain and outflow velocity per account (cash or transfers leaving it), and what
    arrived labels say of the account."""

    name: ClassVar[str] = "account"
    applies_to: ClassVar[tuple[type, ...]] = (CardPresent, CardNotPresent, MobileTransfer, Label)
    layout: ClassVar[Layout] = Layout(
        ["ref", "out_1h", "out_24h", "dep_t", "dep_amount", "n", "frauds", "fraud_t"],
        defaults={"ref": NEVER, "dep_t": NEVER, "fraud_t": NEVER},
    )
    _S: ClassVar[dict[str, int]] = layout.slot
    _DECAY: ClassVar[DecayGroups] = decay_groups(((_S["out_1h"], HOUR), (_S["out_24h"], DAY)))

    def key(self, event: Any) -> str | None:
        if isinstance(event, (CardPresent, CardNotPresent, MobileTransfer, Label)):
            return event.account_id
        return None

    def feature_names(self) -> tuple[str, ...]:
        return ("acct_outflow_1h", "acct_outflow_24h", "acct_deposit_secs", "acct_deposit_amount", "acct_frauds_known",
                "acct_fraud_rate", "acct_secs_since_fraud")

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        if isinstance(event, Label):
            if event.fraud:
                s[A_FRAUDS] += 1.0
                s[A_FRAUD_T] = max(s[A_FRAUD_T], t)
            return s
        age = _advance(s, self._DECAY, t)
        dep_t = s[A_DEP_T]
        out["acct_deposit_secs"] = t - dep_t if NEVER < dep_t <= t else BIG
        out["acct_deposit_amount"] = s[A_DEP_AMOUNT] if NEVER < dep_t <= t else 0.0
        n = s[A_N]
        out["acct_frauds_known"] = s[A_FRAUDS]
        out["acct_fraud_rate"] = s[A_FRAUDS] / n if n > 0 else 0.0
        out["acct_secs_since_fraud"] = t - s[A_FRAUD_T] if NEVER < s[A_FRAUD_T] <= t else BIG
        s[A_N] = n + 1.0
        if isinstance(event, CardPresent) and event.txn == "atm_deposit":
            s[A_DEP_T], s[A_DEP_AMOUNT] = t, out["amount"]
        else:
            decay_add(s, A_OUT_1H, HOUR, out["amount"], age)
            decay_add(s, A_OUT_24H, DAY, out["amount"], age)
        out["acct_outflow_1h"], out["acct_outflow_24h"] = s[A_OUT_1H], s[A_OUT_24H]
        return s


class CardMerchantStep:
    """One card at one merchant (or terminal): how often it paid there, when last, and whether
    frauds were confirmed there *for this card* — a pair, so neither side alone shows it."""

    name: ClassVar[str] = "card_merchant"
    applies_to: ClassVar[tuple[type, ...]] = (CardPresent, CardNotPresent, Label)
    layout: ClassVar[Layout] = Layout(["ref", "n", "frauds", "fraud_t"], defaults={"ref": NEVER, "fraud_t": NEVER})

    def key(self, event: Any) -> str | None:
        if isinstance(event, (CardPresent, Label)):
            where = event.merchant_id or event.terminal_id
        elif isinstance(event, CardNotPresent):
            where = event.merchant_id
        else:
            return None
        card = event.card_id
        return None if card is None or where is None else card + "|" + where

    def feature_names(self) -> tuple[str, ...]:
        return ("cm_history_n", "cm_secs_since_last", "cm_frauds_known", "cm_fraud_rate", "cm_secs_since_fraud")

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        if isinstance(event, Label):
            if event.fraud:
                s[2] += 1.0
                s[3] = max(s[3], t)
            return s
        ref, n = s[0], s[1]
        out["cm_history_n"] = n
        out["cm_secs_since_last"] = t - ref if NEVER < ref <= t else BIG
        out["cm_frauds_known"] = s[2]
        out["cm_fraud_rate"] = s[2] / n if n > 0 else 0.0
        out["cm_secs_since_fraud"] = t - s[3] if NEVER < s[3] <= t else BIG
        s[0] = max(ref, t)
        s[1] = n + 1.0
        return s


LABEL_LAG = 7 * DAY
"""How long after a use its fraud label usually arrives: a use younger than this and not yet
labelled fraud is not yet known to be genuine (the ring's shares read only older uses)."""
RING = 32
"""Latest uses an entity remembers with their fraud flag (a month of a quiet terminal's traffic)."""


W = 3
"""A ring entry: (time, fraud flag, the payment's amount against its card's habit)."""


def _ring_add(s: array[float], head: int, start: int, t: float, ratio: float) -> None:
    i = int(s[head])
    s[start + W * i], s[start + W * i + 1], s[start + W * i + 2] = t, 0.0, ratio
    s[head] = float((i + 1) % RING)


def _ring_mark(s: array[float], start: int, target: float) -> None:
    """Flag the remembered use at ``target`` (its event time) as fraud."""
    for i in range(start, start + W * RING, W):
        if s[i] == target and s[i] != 0.0:
            s[i + 1] = 1.0
            return


def _ring_read(s: array[float], head: int, start: int, t: float) -> tuple[float, float, float, float, float]:
    """(known frauds, uses old enough to be labelled or already flagged, the run of frauds among
    the newest labelled uses, the smallest and largest amount ratio of the known frauds), newest
    first. A skimmed terminal's frauds are ordinary amounts; a thief's spree at a shop, large ones."""
    frauds = labelled = run = 0.0
    low, high = BIG, 0.0
    in_run = True
    h = int(s[head])
    for k in range(RING):
        i = start + W * ((h - 1 - k) % RING)
        when, flag = s[i], s[i + 1]
        if when == 0.0 or when > t:
            continue
        if flag > 0:
            frauds += 1.0
            labelled += 1.0
            ratio = s[i + 2]
            low = ratio if ratio < low else low
            high = ratio if ratio > high else high
            if in_run:
                run += 1.0
        elif t - when >= LABEL_LAG:
            labelled += 1.0
            in_run = False
    return frauds, labelled, run, low if frauds > 0 else 0.0, high


class _FanInStep:
    """An entity many customers meet (terminal, merchant, device, payee, IP): volume, distinct
    customers, age, its usual amount, and what arrived labels say of it. Subclasses name the key
    field, the event types and the feature prefix."""

    name: ClassVar[str] = ""
    prefix: ClassVar[str] = ""
    event_types: ClassVar[tuple[type, ...]] = ()
    field: ClassVar[str] = ""
    layout: ClassVar[Layout] = Layout(
        ["ref", "first_t", "n", "count_24h", "count_7d", "count_30d", "sum_30d", "fraud_7d", "fraud_30d",
         "frauds", "fraud_t", "in_t", "in_24h", "stripe_24h", "place_lat", "place_lon", "place_spread", "ring_head",
         *(f"ring{i}" for i in range(W * RING))],
        sets={"customers": 8},
        defaults={"ref": NEVER, "first_t": NEVER, "fraud_t": NEVER, "in_t": NEVER, "place_lat": NEVER},
    )
    _S: ClassVar[dict[str, int]] = layout.slot
    _DECAY: ClassVar[DecayGroups] = decay_groups((
        (_S["count_24h"], DAY), (_S["count_7d"], 7 * DAY), (_S["count_30d"], 30 * DAY), (_S["sum_30d"], 30 * DAY),
        (_S["fraud_7d"], 7 * DAY), (_S["fraud_30d"], 30 * DAY), (_S["in_24h"], DAY), (_S["stripe_24h"], DAY),
    ))
    SUFFIXES: ClassVar[tuple[str, ...]] = (
        "age_secs", "count_24h", "count_7d", "customers_24h", "amount_ratio", "fraud_7d", "fraud_30d",
        "fraud_rate_30d", "frauds_known", "fraud_rate", "secs_since_fraud", "recent_frauds", "recent_labelled",
        "fraud_run", "recent_fraud_share", "fraud_ratio_min", "fraud_ratio_max",
    )

    def __init__(self) -> None:
        self.names = tuple(f"{self.prefix}_{x}" for x in self.SUFFIXES)
        self.keyed = (*self.event_types, Label)

    def key(self, event: Any) -> str | None:
        if isinstance(event, self.keyed):
            value = getattr(event, self.field, None)
            return value if isinstance(value, str) else None
        return None

    def feature_names(self) -> tuple[str, ...]:
        return self.names

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        names = self.names
        age = _advance(s, self._DECAY, t)
        if isinstance(event, Label):
            if event.fraud:
                decay_add(s, F_FRAUD_7D, 7 * DAY, 1.0, age)
                decay_add(s, F_FRAUD_30D, 30 * DAY, 1.0, age)
                s[F_FRAUDS] += 1.0
                s[F_FRAUD_T] = max(s[F_FRAUD_T], t)
                if event.target_event_time is not None:
                    _ring_mark(s, F_RING, event.target_event_time.timestamp())
            return s
        first = s[F_FIRST_T]
        out[names[0]] = t - first if NEVER < first <= t else 0.0
        if first <= NEVER or t < first:
            s[F_FIRST_T] = t
        n = s[F_N]
        amount = out.get("amount", 0.0)
        c30 = s[F_COUNT_30D]
        out[names[4]] = amount / (s[F_SUM_30D] / c30) if c30 > 1e-9 and s[F_SUM_30D] > 0 else 0.0
        frauds, labelled, run, low, high = _ring_read(s, F_RING_HEAD, F_RING, t)
        out[names[11]], out[names[12]], out[names[13]] = frauds, labelled, run
        out[names[14]] = frauds / labelled if labelled > 0 else 0.0
        out[names[15]], out[names[16]] = low, high
        out[names[8]] = s[F_FRAUDS]
        out[names[9]] = s[F_FRAUDS] / n if n > 0 else 0.0
        out[names[10]] = t - s[F_FRAUD_T] if NEVER < s[F_FRAUD_T] <= t else BIG
        decay_add(s, F_COUNT_24H, DAY, 1.0, age)
        decay_add(s, F_COUNT_7D, 7 * DAY, 1.0, age)
        decay_add(s, F_COUNT_30D, 30 * DAY, 1.0, age)
        decay_add(s, F_SUM_30D, 30 * DAY, amount, age)
        s[F_N] = n + 1.0
        # The card step ran first: its habit ratio travels with the event (card -> entity, no cycle).
        _ring_add(s, F_RING_HEAD, F_RING, t, out.get("card_amount_gratio", out.get("payer_amount_gratio", 0.0)))
        start, size = F_CUSTOMERS
        customer = getattr(event, "customer_id", None)
        distinct = (recent_touch(s, start, size, value_hash(customer), t, t - DAY)[1] if isinstance(customer, str)
                    else recent_distinct(s, start, size, t - DAY))
        out[names[1]], out[names[2]] = s[F_COUNT_24H], s[F_COUNT_7D]
        out[names[3]] = float(distinct)
        out[names[5]], out[names[6]] = s[F_FRAUD_7D], s[F_FRAUD_30D]
        out[names[7]] = s[F_FRAUD_30D] / max(s[F_COUNT_30D], 1.0)
        return s


class TerminalStep(_FanInStep):
    """An ATM or POS terminal; also the share of magnetic-stripe reads and distinct cards (a
    skimmer's terminal, case S4), and how far the places reported for it spread: an ATM stays put,
    while an id some data source gives at many places (a merchant's name, a billing address
    somewhere) is no fixed point to judge a card's travel by."""

    name = "terminal"
    prefix = "term"
    field = "terminal_id"
    event_types: ClassVar[tuple[type, ...]] = (CardPresent,)
    applies_to: ClassVar[tuple[type, ...]] = (CardPresent, Label)

    def feature_names(self) -> tuple[str, ...]:
        return (*super().feature_names(), "term_stripe_share_24h", "term_place_spread_km")

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = super().update(state, event, t, out)
        if isinstance(event, CardPresent):
            s[F_STRIPE_24H] += 1.0 if event.pos_entry_mode in STRIPE_MODES else 0.0
            out["term_stripe_share_24h"] = s[F_STRIPE_24H] / max(s[F_COUNT_24H], 1.0)
            loc = event.terminal_location
            if loc is not None:
                if s[F_PLACE_LAT] <= NEVER:
                    s[F_PLACE_LAT], s[F_PLACE_LON] = loc.lat, loc.lon
                km = haversine_km(s[F_PLACE_LAT], s[F_PLACE_LON], loc.lat, loc.lon)
                s[F_PLACE_SPREAD] = max(s[F_PLACE_SPREAD], km)
            out["term_place_spread_km"] = s[F_PLACE_SPREAD]
        return s


class DeviceStep(_FanInStep):
    name = "device"
    prefix = "dev"
    field = "device_id"
    event_types: ClassVar[tuple[type, ...]] = (MobileTransfer, Login, CardNotPresent)
    applies_to: ClassVar[tuple[type, ...]] = (*event_types, Label)


class PayeeStep(_FanInStep):
    """Whoever receives a transfer; also what arrived there recently (read by :class:`InflowStep`
    when the payee later pays out, the mule's pattern)."""

    name = "payee"
    prefix = "payee"
    field = "payee_id"
    event_types: ClassVar[tuple[type, ...]] = (MobileTransfer,)
    applies_to: ClassVar[tuple[type, ...]] = (*event_types, Label)

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = super().update(state, event, t, out)
        if isinstance(event, MobileTransfer):
            s[F_IN_T] = max(s[F_IN_T], t)
            decay_add(s, F_IN_24H, DAY, out["amount"], s[F_REF] - t)
        return s


class InflowStep:
    """What the paying account itself received lately, read from its state *as a payee*: money in,
    then straight out again. Reads only (``update`` returns ``None``: the payee step owns it)."""

    name: ClassVar[str] = "payee"
    applies_to: ClassVar[tuple[type, ...]] = (MobileTransfer,)
    layout: ClassVar[Layout] = _FanInStep.layout

    def key(self, event: Any) -> str | None:
        return event.account_id if isinstance(event, MobileTransfer) else None

    def feature_names(self) -> tuple[str, ...]:
        return ("acct_inflow_secs", "acct_inflow_24h", "acct_out_in_ratio")

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> None:
        if state is None:
            out["acct_inflow_secs"], out["acct_inflow_24h"], out["acct_out_in_ratio"] = BIG, 0.0, 0.0
            return None
        in_t = state[F_IN_T]
        dt = t - state[F_REF]
        inflow = state[F_IN_24H] * math.exp(-dt / DAY) if dt > 0 else state[F_IN_24H]
        out["acct_inflow_secs"] = t - in_t if NEVER < in_t <= t else BIG
        out["acct_inflow_24h"] = inflow
        out["acct_out_in_ratio"] = out["amount"] / inflow if inflow > 1e-9 else 0.0
        return None


class IpStep(_FanInStep):
    name = "ip"
    prefix = "ip"
    field = "ip"
    event_types: ClassVar[tuple[type, ...]] = (MobileTransfer, Login, CardNotPresent)
    applies_to: ClassVar[tuple[type, ...]] = (*event_types, Label)


class MerchantStep(_FanInStep):
    name = "merchant"
    prefix = "merch"
    field = "merchant_id"
    event_types: ClassVar[tuple[type, ...]] = (CardPresent, CardNotPresent)
    applies_to: ClassVar[tuple[type, ...]] = (*event_types, Label)


class PayerStep:
    """Habits of the account a mobile transfer leaves (cards have theirs in the card step), and what
    arrived labels say of it."""

    name: ClassVar[str] = "payer"
    applies_to: ClassVar[tuple[type, ...]] = (MobileTransfer, Label)
    layout: ClassVar[Layout] = Layout([*habit_scalars(), "fraud_t", "frauds"],
                                      defaults={**habit_defaults(), "fraud_t": NEVER})
    HABIT: ClassVar[tuple[str, ...]] = habit_names("payer")

    def key(self, event: Any) -> str | None:
        if isinstance(event, (MobileTransfer, Label)):
            return event.account_id
        return None

    def feature_names(self) -> tuple[str, ...]:
        return (*self.HABIT, "payer_frauds_known", "payer_secs_since_fraud")

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        if isinstance(event, Label):
            if event.fraud:
                s[P_FRAUD_T] = max(s[P_FRAUD_T], t)
                s[P_FRAUDS] += 1.0
            return s
        out["payer_frauds_known"] = s[P_FRAUDS]
        out["payer_secs_since_fraud"] = t - s[P_FRAUD_T] if NEVER < s[P_FRAUD_T] <= t else BIG
        loc = event_location(event)
        lat = lon = math.nan
        accuracy = 0.0
        if loc is not None:
            lat, lon, accuracy = loc.lat, loc.lon, loc.accuracy_km or 0.0
        habit_update(s, self.HABIT, t, out, event.payee_id, event.category, event.country, channel_of(event), lat,
                     lon, accuracy)
        return s


class CategoryStep:
    """A merchant or product category across the whole tenant (``category``, else ``mcc:<MCC>``):
    how common it is, its usual amount and how often it was fraud. A label carries the category key
    of the event it labels (see ``label_category``)."""

    name: ClassVar[str] = "category"
    applies_to: ClassVar[tuple[type, ...]] = (CardPresent, CardNotPresent, MobileTransfer, Label)
    layout: ClassVar[Layout] = Layout(["ref", "n", "count_30d", "sum_30d", "sumsq_30d", "fraud_30d", "frauds"],
                                      defaults={"ref": NEVER})
    _S: ClassVar[dict[str, int]] = layout.slot
    _DECAY: ClassVar[DecayGroups] = decay_groups(((_S["count_30d"], 30 * DAY), (_S["sum_30d"], 30 * DAY),
                                                  (_S["sumsq_30d"], 30 * DAY), (_S["fraud_30d"], 30 * DAY)))

    def key(self, event: Any) -> str | None:
        if isinstance(event, (CardPresent, CardNotPresent)):
            return event.category or (None if event.mcc is None else "mcc:" + event.mcc)
        if isinstance(event, (MobileTransfer, Label)):
            category: str | None = event.category
            return category
        return None

    def feature_names(self) -> tuple[str, ...]:
        return ("cat_count_30d", "cat_amount_z", "cat_fraud_rate", "cat_fraud_rate_30d")

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        age = _advance(s, self._DECAY, t)
        if isinstance(event, Label):
            if event.fraud:
                decay_add(s, G_FRAUD_30D, 30 * DAY, 1.0, age)
                s[G_FRAUDS] += 1.0
            return s
        amount = out["amount"]
        c30 = s[G_COUNT_30D]
        mean = s[G_SUM_30D] / c30 if c30 > 1e-9 else 0.0
        var = max(s[G_SUMSQ_30D] / c30 - mean * mean, 0.0) if c30 > 1e-9 else 0.0
        out["cat_count_30d"] = c30
        out["cat_amount_z"] = (amount - mean) / math.sqrt(var) if var > 1e-9 else 0.0
        out["cat_fraud_rate"] = s[G_FRAUDS] / s[G_N] if s[G_N] > 0 else 0.0
        out["cat_fraud_rate_30d"] = s[G_FRAUD_30D] / c30 if c30 > 1e-9 else 0.0
        decay_add(s, G_COUNT_30D, 30 * DAY, 1.0, age)
        decay_add(s, G_SUM_30D, 30 * DAY, amount, age)
        decay_add(s, G_SUMSQ_30D, 30 * DAY, amount * amount, age)
        s[G_N] += 1.0
        return s


class PopulationStep:
    """All the tenant's payments of one type: where an amount lies among them (``pop_amount_pctl``,
    90-day memory) — what "large" means for a payer without a history of its own."""

    name: ClassVar[str] = "population"
    applies_to: ClassVar[tuple[type, ...]] = (CardPresent, CardNotPresent, MobileTransfer)
    layout: ClassVar[Layout] = Layout(["base", *(f"amt{i}" for i in range(N_AMT))], defaults={"base": NEVER})

    def key(self, event: Any) -> str | None:
        if isinstance(event, (CardPresent, CardNotPresent, MobileTransfer)):
            return str(event.type)
        return None

    def feature_names(self) -> tuple[str, ...]:
        return ("pop_amount_pctl",)

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        index = amount_bin(out["amount"])
        out["pop_amount_pctl"] = histogram_rank(s, 1, N_AMT, index)
        histogram_add(s, 0, 1, index, t)
        return s


def label_category(fields: dict[str, Any]) -> str | None:
    """The category key a label of an event with these fields carries."""
    category = fields.get("category")
    if category is None and fields.get("mcc") is not None:
        return "mcc:" + str(fields["mcc"])
    return category if isinstance(category, str) else None


class AttributeValueStep:
    """Each text attribute's value (``attributes: {"email_domain": "mail.example"}``) across the
    tenant: how often it was seen and how often it was fraud — ``attrv_<name>_count`` and
    ``attrv_<name>_fraud_rate``. One state per (name, value); the names follow the bank's data."""

    name: ClassVar[str] = "attrv"
    multi: ClassVar[bool] = True
    applies_to: ClassVar[tuple[type, ...]] = (CardPresent, CardNotPresent, MobileTransfer, Label)
    layout: ClassVar[Layout] = Layout(["n", "frauds"])

    def key(self, event: Any) -> str | None:
        return None

    def keys(self, event: Any) -> tuple[str, ...]:
        attributes = getattr(event, "attributes", None)
        if not attributes:
            return ()
        return tuple(f"{k}={v}" for k, v in attributes.items() if isinstance(v, str))

    def feature_names(self) -> tuple[str, ...]:
        return ()

    def update(self, state: array[float] | None, event: Any, t: float, out: Features, key: str) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        if isinstance(event, Label):
            if event.fraud:
                s[1] += 1.0
            return s
        name = key[:key.index("=")]
        n = s[0]
        out[f"attrv_{name}_count"] = n
        out[f"attrv_{name}_fraud_rate"] = s[1] / n if n > 0 else 0.0
        s[0] = n + 1.0
        return s


class EmployeeStep:
    """Staff access to customer data: volume against the employee's own habit, queries without
    business, customers outside the branch, off-hours work, sequential scanning (case S3)."""

    name: ClassVar[str] = "employee"
    applies_to: ClassVar[tuple[type, ...]] = (StaffAccess,)
    layout: ClassVar[Layout] = Layout(
        [
            "ref",
            "n",
            "first_t",
            "count_1h",
            "count_24h",
            "count_30d",
            "nobiz_24h",
            "outbranch_24h",
            "offhours_24h",
            "last_num",
            "seq_run",
        ],
        sets={"customers": 8},
        defaults={"ref": NEVER, "first_t": NEVER, "last_num": -10.0},
    )
    _S: ClassVar[dict[str, int]] = layout.slot
    _DECAY: ClassVar[DecayGroups] = decay_groups(
        (
            (_S["count_1h"], HOUR),
            (_S["count_24h"], DAY),
            (_S["count_30d"], 30 * DAY),
            (_S["nobiz_24h"], DAY),
            (_S["outbranch_24h"], DAY),
            (_S["offhours_24h"], DAY),
        )
    )

    def key(self, event: Any) -> str | None:
        return event.employee_id if isinstance(event, StaffAccess) else None

    def feature_names(self) -> tuple[str, ...]:
        return (
            "emp_count_1h",
            "emp_count_24h",
            "emp_daily_mean_30d",
            "emp_volume_ratio",
            "emp_no_business_24h",
            "emp_out_of_branch_24h",
            "emp_off_hours_24h",
            "emp_seq_run",
            "emp_new_customer",
            "emp_tenure_days",
        )

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        if s[E_FIRST_T] <= NEVER:
            s[E_FIRST_T] = t
        tenure_days = max((t - s[E_FIRST_T]) / DAY, 0.0)
        daily_mean = s[E_COUNT_30D] / min(max(tenure_days, 1.0), 30.0)
        age = _advance(s, self._DECAY, t)
        hour = out.get("hour", 12.0)
        off_hours = hour < 7.0 or hour >= 20.0 or out.get("weekend", 0.0) > 0
        for slot, tau, value in (
            ("count_1h", HOUR, float(event.records)),
            ("count_24h", DAY, float(event.records)),
            ("count_30d", 30 * DAY, float(event.records)),
            ("nobiz_24h", DAY, 1.0 if event.business_ref is None else 0.0),
            ("outbranch_24h", DAY, 1.0 if event.customer_branch_id not in (None, event.branch_id) else 0.0),
            ("offhours_24h", DAY, 1.0 if off_hours else 0.0),
        ):
            decay_add(s, self._S[slot], tau, value, age)
        digits = "".join(ch for ch in event.customer_id[-12:] if ch.isdigit())
        num = float(digits) if digits else -10.0
        s[E_SEQ_RUN] = s[E_SEQ_RUN] + 1 if num >= 0 and abs(num - s[E_LAST_NUM]) <= 2 else 0.0
        s[E_LAST_NUM] = num
        start, size = self.layout.sets["customers"]
        h = value_hash(event.customer_id)
        out["emp_new_customer"] = 1.0 if recent_seen(s, start, size, h) < 0 else 0.0
        recent_add(s, start, size, h, t)
        s[E_N] += 1
        out["emp_count_1h"], out["emp_count_24h"] = s[E_COUNT_1H], s[E_COUNT_24H]
        out["emp_daily_mean_30d"] = daily_mean
        out["emp_volume_ratio"] = s[E_COUNT_24H] / daily_mean if daily_mean > 0 and tenure_days >= 3 else 0.0
        out["emp_no_business_24h"] = s[E_NOBIZ_24H]
        out["emp_out_of_branch_24h"] = s[E_OUTBRANCH_24H]
        out["emp_off_hours_24h"] = s[E_OFFHOURS_24H]
        out["emp_seq_run"] = s[E_SEQ_RUN]
        out["emp_tenure_days"] = tenure_days
        return s


# Slot numbers as module constants: the hot path indexes arrays without dict look-ups.
_A_SLOTS = AccountStep.layout.slot
A_DEP_AMOUNT = _A_SLOTS["dep_amount"]
A_DEP_T = _A_SLOTS["dep_t"]
A_OUT_1H = _A_SLOTS["out_1h"]
A_OUT_24H = _A_SLOTS["out_24h"]
A_N = _A_SLOTS["n"]
A_FRAUDS = _A_SLOTS["frauds"]
A_FRAUD_T = _A_SLOTS["fraud_t"]
_F_SLOTS = _FanInStep.layout.slot
F_REF = _F_SLOTS["ref"]
F_N = _F_SLOTS["n"]
F_COUNT_24H = _F_SLOTS["count_24h"]
F_COUNT_7D = _F_SLOTS["count_7d"]
F_COUNT_30D = _F_SLOTS["count_30d"]
F_SUM_30D = _F_SLOTS["sum_30d"]
F_FIRST_T = _F_SLOTS["first_t"]
F_FRAUD_7D = _F_SLOTS["fraud_7d"]
F_FRAUD_30D = _F_SLOTS["fraud_30d"]
F_FRAUDS = _F_SLOTS["frauds"]
F_FRAUD_T = _F_SLOTS["fraud_t"]
F_IN_T = _F_SLOTS["in_t"]
F_IN_24H = _F_SLOTS["in_24h"]
F_STRIPE_24H = _F_SLOTS["stripe_24h"]
F_PLACE_LAT = _F_SLOTS["place_lat"]
F_PLACE_LON = _F_SLOTS["place_lon"]
F_PLACE_SPREAD = _F_SLOTS["place_spread"]
F_RING_HEAD = _F_SLOTS["ring_head"]
F_RING = _F_SLOTS["ring0"]
F_CUSTOMERS = _FanInStep.layout.sets["customers"]
_P_SLOTS = PayerStep.layout.slot
P_FRAUD_T = _P_SLOTS["fraud_t"]
P_FRAUDS = _P_SLOTS["frauds"]
_G_SLOTS = CategoryStep.layout.slot
G_N = _G_SLOTS["n"]
G_COUNT_30D = _G_SLOTS["count_30d"]
G_SUM_30D = _G_SLOTS["sum_30d"]
G_SUMSQ_30D = _G_SLOTS["sumsq_30d"]
G_FRAUD_30D = _G_SLOTS["fraud_30d"]
G_FRAUDS = _G_SLOTS["frauds"]
_E_SLOTS = EmployeeStep.layout.slot
E_COUNT_1H = _E_SLOTS["count_1h"]
E_COUNT_24H = _E_SLOTS["count_24h"]
E_COUNT_30D = _E_SLOTS["count_30d"]
E_FIRST_T = _E_SLOTS["first_t"]
E_LAST_NUM = _E_SLOTS["last_num"]
E_N = _E_SLOTS["n"]
E_NOBIZ_24H = _E_SLOTS["nobiz_24h"]
E_OFFHOURS_24H = _E_SLOTS["offhours_24h"]
E_OUTBRANCH_24H = _E_SLOTS["outbranch_24h"]
E_SEQ_RUN = _E_SLOTS["seq_run"]
