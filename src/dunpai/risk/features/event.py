"""Features of the event itself (no state): amount, EMV read facts, hour, balance drain, and the
bank's own attributes (numbers as ``attr_<name>``)."""

from __future__ import annotations

from dunpai.risk.events.schemas import (
    AnyEvent,
    CardNotPresent,
    CardPresent,
    Location,
    MobileTransfer,
)
from dunpai.risk.features.layout import Features

_ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK"})
STRIPE_MODES = frozenset({"80", "90", "91"})


def major_units(amount_minor: float, currency: str) -> float:
    """Amount in major units (yuan) as a float: features and rules read money this way."""
    return amount_minor if currency in _ZERO_DECIMAL_CURRENCIES else amount_minor / 100.0


def chip_card(event: CardPresent) -> bool | None:
    """Whether the card carries a chip: the explicit flag, else service code 2xx/6xx."""
    if event.chip_card is not None:
        return event.chip_card
    if event.service_code is not None:
        return event.service_code[0] in "26"
    return None


def event_location(event: AnyEvent) -> Location | None:
    """Where the event happened, as precisely as known: the terminal of a card-present use, the
    app's place of a transfer or login, the merchant's registered address of an online purchase."""
    if isinstance(event, CardPresent):
        return event.terminal_location
    if isinstance(event, CardNotPresent):
        return event.merchant_location
    loc = getattr(event, "location", None)
    return loc if isinstance(loc, Location) else None


def channel_of(event: AnyEvent) -> str:
    """The channel a payment used: event type, then the transaction kind or card read."""
    if isinstance(event, CardPresent):
        return f"cp:{event.txn}:{'stripe' if event.pos_entry_mode in STRIPE_MODES else event.pos_entry_mode}"
    if isinstance(event, MobileTransfer):
        return f"mt:{event.kind}"
    return event.type


FEATURES: dict[str, tuple[str, ...]] = {
    "": ("hour", "night", "weekend", "weekday"),
    "money": ("amount", "amount_cents", "amount_round", "drain_ratio", "drains_balance", "balance_known"),
    "card_present": ("card_present", "withdrawal", "deposit", "chip_card", "stripe_read", "chip_fallback",
                     "terminal_chip_capable", "chip_card_read_by_stripe"),
    "mobile_transfer": ("shield_present", "cash_out"),
}
"""Names of the event features: every event, money events, then per type. Numeric attributes add
``attr_<name>``."""


def event_features(event: AnyEvent) -> tuple[float, Features]:
    """Epoch seconds of the event and its stateless features."""
    when = event.event_time
    t = when.timestamp()
    offset = when.utcoffset()
    local = t + (offset.total_seconds() if offset is not None else 0.0)
    hour = (local % 86400.0) / 3600.0
    weekday = int(local // 86400.0 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    f = Features(hour=hour, night=1.0 if hour < 6.0 else 0.0, weekend=1.0 if weekday >= 5 else 0.0,
                 weekday=float(weekday))
    # Hot-path isinstance checks take tuples: ``A | B`` would build a union object on every call.
    if isinstance(event, (CardPresent, CardNotPresent, MobileTransfer)):
        minor = float(event.amount)
        amount = major_units(minor, event.currency)
        f["amount"] = amount
        cents = minor % 100.0 if event.currency not in _ZERO_DECIMAL_CURRENCIES else 0.0
        f["amount_cents"] = cents / 100.0
        f["amount_round"] = 1.0 if amount >= 100.0 and amount % 100.0 == 0.0 else 0.0
        balance = event.balance_before
        f["drain_ratio"] = (amount / major_units(float(balance), event.currency)
                            if balance is not None and balance > 0 else 0.0)
        f["drains_balance"] = 1.0 if balance is not None and balance > 0 and event.amount == balance else 0.0
        f["balance_known"] = 1.0 if balance is not None else 0.0
        attributes = event.attributes
        if attributes is not None:
            for name, value in attributes.items():
                if isinstance(value, float):
                    f["attr_" + name] = value
    if isinstance(event, CardPresent):
        chip = chip_card(event)
        stripe = event.pos_entry_mode in STRIPE_MODES
        f["card_present"] = 1.0
        f["withdrawal"] = 1.0 if event.txn == "atm_withdrawal" else 0.0
        f["deposit"] = 1.0 if event.txn == "atm_deposit" else 0.0
        f["chip_card"] = 1.0 if chip else 0.0
        f["stripe_read"] = 1.0 if stripe else 0.0
        f["chip_fallback"] = 1.0 if event.pos_entry_mode == "80" else 0.0
        f["terminal_chip_capable"] = 1.0 if event.terminal_chip_capable else 0.0
        f["chip_card_read_by_stripe"] = 1.0 if (chip and stripe and event.terminal_chip_capable) else 0.0
    if isinstance(event, MobileTransfer):
        f["shield_present"] = 1.0 if event.shield is not None else 0.0
        f["cash_out"] = 1.0 if event.kind == "cash_out" else 0.0
    return t, f
