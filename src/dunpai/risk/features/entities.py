"""Keyed state of the other entities: account, terminal, merchant, device, payee, IP, employee."""

from __future__ import annotations

from array import array
from typing import Any, ClassVar

from dunpai.risk.events.schemas import CardNotPresent, CardPresent, Label, Login, MobileTransfer, StaffAccess
from dunpai.risk.features.event import STRIPE_MODES
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
    """Balance drain and outflow velocity per account (cash or transfers leaving it)."""

    name: ClassVar[str] = "account"
    applies_to: ClassVar[tuple[type, ...]] = (CardPresent, CardNotPresent, MobileTransfer)
    layout: ClassVar[Layout] = Layout(
        ["ref", "out_1h", "out_24h", "dep_t", "dep_amount"], defaults={"ref": NEVER, "dep_t": NEVER}
    )
    _S: ClassVar[dict[str, int]] = layout.slot
    _DECAY: ClassVar[DecayGroups] = decay_groups(((_S["out_1h"], HOUR), (_S["out_24h"], DAY)))

    def key(self, event: Any) -> str | None:
        return event.account_id if isinstance(event, (CardPresent, CardNotPresent, MobileTransfer)) else None

    def feature_names(self) -> tuple[str, ...]:
        return ("acct_outflow_1h", "acct_outflow_24h", "acct_deposit_secs", "acct_deposit_amount")

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        age = _advance(s, self._DECAY, t)
        dep_t = s[A_DEP_T]
        out["acct_deposit_secs"] = t - dep_t if NEVER < dep_t <= t else BIG
        out["acct_deposit_amount"] = s[A_DEP_AMOUNT] if NEVER < dep_t <= t else 0.0
        if isinstance(event, CardPresent) and event.txn == "atm_deposit":
            s[A_DEP_T], s[A_DEP_AMOUNT] = t, out["amount"]
        else:
            decay_add(s, A_OUT_1H, HOUR, out["amount"], age)
            decay_add(s, A_OUT_24H, DAY, out["amount"], age)
        out["acct_outflow_1h"], out["acct_outflow_24h"] = s[A_OUT_1H], s[A_OUT_24H]
        return s


class TerminalStep:
    """Traffic, distinct cards, magnetic-stripe share and known frauds per ATM/POS terminal.

    Fraud counts grow only when a label *arrives* (its event time is when it became known), so the
    terminal's fraud rate never sees labels from the future.
    """

    name: ClassVar[str] = "terminal"
    applies_to: ClassVar[tuple[type, ...]] = (CardPresent, Label)
    layout: ClassVar[Layout] = Layout(
        ["ref", "count_24h", "count_7d", "count_30d", "stripe_24h", "fraud_7d", "fraud_30d"],
        sets={"cards": 12},
        defaults={"ref": NEVER},
    )
    _S: ClassVar[dict[str, int]] = layout.slot
    _DECAY: ClassVar[DecayGroups] = decay_groups(
        (
            (_S["count_24h"], DAY),
            (_S["count_7d"], 7 * DAY),
            (_S["count_30d"], 30 * DAY),
            (_S["stripe_24h"], DAY),
            (_S["fraud_7d"], 7 * DAY),
            (_S["fraud_30d"], 30 * DAY),
        )
    )

    def key(self, event: Any) -> str | None:
        if isinstance(event, (CardPresent, Label)):
            return event.terminal_id
        return None

    def feature_names(self) -> tuple[str, ...]:
        return (
            "term_count_24h",
            "term_count_7d",
            "term_cards_24h",
            "term_stripe_share_24h",
            "term_fraud_7d",
            "term_fraud_30d",
            "term_fraud_rate_30d",
        )

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        age = _advance(s, self._DECAY, t)
        if isinstance(event, Label):
            if event.fraud:
                decay_add(s, T_FRAUD_7D, 7 * DAY, 1.0, age)
                decay_add(s, T_FRAUD_30D, 30 * DAY, 1.0, age)
            return s
        decay_add(s, T_COUNT_24H, DAY, 1.0, age)
        decay_add(s, T_COUNT_7D, 7 * DAY, 1.0, age)
        decay_add(s, T_COUNT_30D, 30 * DAY, 1.0, age)
        decay_add(s, T_STRIPE_24H, DAY, 1.0 if event.pos_entry_mode in STRIPE_MODES else 0.0, age)
        start, size = T_CARDS
        distinct = (
            recent_touch(s, start, size, value_hash(event.card_id), t, t - DAY)[1]
            if event.card_id
            else (recent_distinct(s, start, size, t - DAY))
        )
        out["term_count_24h"], out["term_count_7d"] = s[T_COUNT_24H], s[T_COUNT_7D]
        out["term_cards_24h"] = float(distinct)
        out["term_stripe_share_24h"] = s[T_STRIPE_24H] / s[T_COUNT_24H]
        out["term_fraud_7d"], out["term_fraud_30d"] = s[T_FRAUD_7D], s[T_FRAUD_30D]
        out["term_fraud_rate_30d"] = s[T_FRAUD_30D] / max(s[T_COUNT_30D], 1.0)
        return s


class _FanInStep:
    """An entity many customers meet (device, payee, IP, merchant): volume, distinct customers,
    age, known frauds. Subclasses name the key field and the feature prefix."""

    name: ClassVar[str] = ""
    prefix: ClassVar[str] = ""
    event_types: ClassVar[tuple[type, ...]] = ()
    field: ClassVar[str] = ""
    layout: ClassVar[Layout] = Layout(
        ["ref", "first_t", "count_24h", "fraud_30d"], sets={"customers": 8}, defaults={"ref": NEVER, "first_t": NEVER}
    )
    _S: ClassVar[dict[str, int]] = layout.slot
    _DECAY: ClassVar[DecayGroups] = decay_groups(((_S["count_24h"], DAY), (_S["fraud_30d"], 30 * DAY)))

    def key(self, event: Any) -> str | None:
        if isinstance(event, (*self.event_types, Label)):
            value = getattr(event, self.field, None)
            return value if isinstance(value, str) else None
        return None

    def feature_names(self) -> tuple[str, ...]:
        p = self.prefix
        return (f"{p}_age_secs", f"{p}_count_24h", f"{p}_customers_24h", f"{p}_fraud_30d")

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        p = self.prefix
        age = _advance(s, self._DECAY, t)
        if isinstance(event, Label):
            if event.fraud:
                decay_add(s, F_FRAUD_30D, 30 * DAY, 1.0, age)
            return s
        first = s[F_FIRST_T]
        out[f"{p}_age_secs"] = t - first if NEVER < first <= t else 0.0
        if first <= NEVER or t < first:
            s[F_FIRST_T] = t
        decay_add(s, F_COUNT_24H, DAY, 1.0, age)
        start, size = self.layout.sets["customers"]
        distinct = recent_touch(s, start, size, value_hash(event.customer_id), t, t - DAY)[1]
        out[f"{p}_count_24h"] = s[F_COUNT_24H]
        out[f"{p}_customers_24h"] = float(distinct)
        out[f"{p}_fraud_30d"] = s[F_FRAUD_30D]
        return s


class DeviceStep(_FanInStep):
    name = "device"
    prefix = "dev"
    field = "device_id"
    event_types: ClassVar[tuple[type, ...]] = (MobileTransfer, Login, CardNotPresent)
    applies_to: ClassVar[tuple[type, ...]] = (*event_types, Label)


class PayeeStep(_FanInStep):
    name = "payee"
    prefix = "payee"
    field = "payee_id"
    event_types: ClassVar[tuple[type, ...]] = (MobileTransfer,)
    applies_to: ClassVar[tuple[type, ...]] = (*event_types, Label)


class IpStep(_FanInStep):
    name = "ip"
    prefix = "ip"
    field = "ip"
    event_types: ClassVar[tuple[type, ...]] = (MobileTransfer, Login, CardNotPresent)
    applies_to: ClassVar[tuple[type, ...]] = event_types


class MerchantStep(_FanInStep):
    name = "merchant"
    prefix = "merch"
    field = "merchant_id"
    event_types: ClassVar[tuple[type, ...]] = (CardPresent, CardNotPresent)
    applies_to: ClassVar[tuple[type, ...]] = (*event_types, Label)


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
_T_SLOTS = TerminalStep.layout.slot
T_CARDS = TerminalStep.layout.sets["cards"]
T_COUNT_24H = _T_SLOTS["count_24h"]
T_COUNT_30D = _T_SLOTS["count_30d"]
T_COUNT_7D = _T_SLOTS["count_7d"]
T_FRAUD_30D = _T_SLOTS["fraud_30d"]
T_FRAUD_7D = _T_SLOTS["fraud_7d"]
T_STRIPE_24H = _T_SLOTS["stripe_24h"]
_F_SLOTS = _FanInStep.layout.slot
F_COUNT_24H = _F_SLOTS["count_24h"]
F_FIRST_T = _F_SLOTS["first_t"]
F_FRAUD_30D = _F_SLOTS["fraud_30d"]
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
