"""Event schemas (version 1): what the card switch and mobile-banking back end send Dunpai.

Every event has an ``event_id`` (idempotency key), an ``event_time`` (timezone-aware; the engine
never reads the wall clock) and a ``type``. Money is an integral amount of minor units with an
ISO 4217 currency. Card numbers may be sent as ``pan`` only at the edge: ingestion replaces them by
a keyed token and a masked form before anything is stored (see ``dunpai.risk.events.ingest``).

Input from the wire (validated with the context ``{"wire": True}``, see ``ingest.parse_event``) is
typed strictly: numbers are JSON numbers (``"12000"`` is refused), flags are ``true``/``false``.
Times are ISO 8601 date-times with their offset on every path: an epoch (``1700000000`` or
``"1700000000"``) is refused, since its zone and unit are guesses.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
)

SCHEMA_VERSION = 1

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


def _wire(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("wire"))


def _number(value: Any, info: ValidationInfo) -> Any:
    """A number is a number: never ``true``; from the wire never a string (``"12000"``)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    if isinstance(value, str | bytes) and _wire(info):
        raise ValueError("must be a JSON number, not a string")
    return value


def _flag(value: Any, info: ValidationInfo) -> Any:
    if _wire(info) and not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso_time(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_START.match(value)):
        return value
    raise ValueError("must be an ISO 8601 date-time with its offset (2026-03-01T20:15:00+08:00), not an epoch")


def _minor_units(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return _signed_minor_units(value)


def _signed_minor_units(value: Decimal) -> Decimal:
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError("must be a whole number of minor units (e.g. fen), not a fraction")
    if abs(value) > Decimal(10) ** 15:
        raise ValueError("is implausibly large (over 10^15 minor units)")
    return Decimal(int(value))  # one form per amount: 12000, 12000.0 and 1.2e4 store alike


AwareTime = Annotated[AwareDatetime, BeforeValidator(_iso_time)]
"""A time with its offset (``2026-03-01T20:15:00+08:00``): the offset gives the local hour."""
Minor = Annotated[Decimal, BeforeValidator(_number), AfterValidator(_minor_units)]
"""Minor units, exactly: from the wire the JSON number's text is read as a decimal, never a float."""
Balance = Annotated[Decimal, BeforeValidator(_number), AfterValidator(_signed_minor_units)]
"""A balance in minor units: below zero for an overdrawn account."""
Real = Annotated[float, BeforeValidator(_number)]
Whole = Annotated[int, BeforeValidator(_number)]
Flag = Annotated[bool, BeforeValidator(_flag)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=256)


class Location(_Model):
    """A point on Earth (WGS-84) and, when known, its city and how precise it is.

    ``accuracy_km`` is the radius within which the real place lies: about 0 for an ATM or POS
    terminal at a fixed, surveyed position; tens of kilometres for a merchant's billing address or
    a place derived from an IP address. Distance features subtract it (two places 30 km apart, one
    known only to 50 km, may be the same place)."""

    lat: Real = Field(ge=-90, le=90)
    lon: Real = Field(ge=-180, le=180)
    city: str | None = Field(default=None, max_length=64)
    accuracy_km: Real | None = Field(default=None, ge=0, le=20_000)


class Shield(_Model):
    """A mobile-shield signature over what the customer saw and confirmed (see ``risk.shield``)."""

    key_id: Id
    nonce: Annotated[str, StringConstraints(min_length=8, max_length=128)]
    signed_at: AwareTime
    signature: Annotated[str, StringConstraints(min_length=16, max_length=512)]


class _Base(_Model):
    schema_version: Literal[1] = 1
    event_id: Id
    event_time: AwareTime


AttributeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")]
AttributeValue = Annotated[float, Field(allow_inf_nan=False)] | Annotated[str, StringConstraints(max_length=64)]
MAX_ATTRIBUTES = 200


def _attributes(value: dict[str, float | str] | None) -> dict[str, float | str] | None:
    if value is not None and len(value) > MAX_ATTRIBUTES:
        raise ValueError(f"at most {MAX_ATTRIBUTES} attributes")
    return value


Attributes = Annotated[dict[AttributeName, AttributeValue] | None, AfterValidator(_attributes)]
"""Signals the bank's own systems computed for a payment (counts, scores, codes): numbers are read
by the model as ``attr_<name>``; text values (at most 64 characters) as how often that value was
seen and how often it was fraud (``attrv_<name>_*``). Never card numbers or personal data."""

Category = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class _Money(_Model):
    amount: Minor
    currency: Currency = "CNY"
    category: Category | None = None
    """Merchant or product category in the bank's own words (``grocery``, ``travel``); novelty and
    known-fraud features read it beside the ISO 18245 ``mcc``."""
    country: Country | None = None
    """ISO 3166-1 alpha-2 country of the merchant, terminal or payee."""
    customer_home: Location | None = None
    """The customer's home address, when the bank sends it (distance-from-home features)."""
    attributes: Attributes = None


PosEntryMode = Literal["01", "05", "07", "80", "90", "91"]
"""ISO 8583 field 22: 01 keyed, 05 chip, 07 contactless chip, 80 chip fallback to stripe,
90 magnetic stripe, 91 contactless stripe."""


class CardPresent(_Base, _Money):
    """An ATM withdrawal, ATM deposit or POS purchase with the card physically at a terminal."""

    type: Literal["card_present"] = "card_present"
    txn: Literal["atm_withdrawal", "atm_deposit", "pos_purchase"]
    card_id: Id | None = None
    pan: Annotated[str, StringConstraints(pattern=r"^[0-9]{8,19}$")] | None = None
    account_id: Id
    customer_id: Id
    terminal_id: Id
    terminal_location: Location | None = None
    terminal_chip_capable: Flag = True
    merchant_id: Id | None = None
    mcc: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")] | None = None
    pos_entry_mode: PosEntryMode
    service_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{3}$")] | None = None
    chip_card: Flag | None = None
    atc: Whole | None = Field(default=None, ge=0, le=65535)
    balance_before: Balance | None = None


class CardNotPresent(_Base, _Money):
    """An e-commerce or mail/telephone order purchase."""

    type: Literal["card_not_present"] = "card_not_present"
    card_id: Id | None = None
    pan: Annotated[str, StringConstraints(pattern=r"^[0-9]{8,19}$")] | None = None
    account_id: Id
    customer_id: Id
    merchant_id: Id
    merchant_location: Location | None = None
    """The merchant's registered (billing) address: not where the card is, so give its
    ``accuracy_km``; impossible-travel features never read it."""
    mcc: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")] | None = None
    ip: Annotated[str, StringConstraints(max_length=45)] | None = None
    device_id: Id | None = None
    balance_before: Balance | None = None


class MobileTransfer(_Base, _Money):
    """A mobile-banking transfer to a payee or a payment, optionally signed by the mobile shield."""

    type: Literal["mobile_transfer"] = "mobile_transfer"
    kind: Literal["transfer", "payment", "cash_out"] = "transfer"
    account_id: Id
    customer_id: Id
    device_id: Id | None = None
    payee_id: Id
    payee_name: str | None = Field(default=None, max_length=128)
    location: Location | None = None
    ip: Annotated[str, StringConstraints(max_length=45)] | None = None
    shield: Shield | None = None
    balance_before: Balance | None = None


class Login(_Base):
    type: Literal["login"] = "login"
    customer_id: Id
    device_id: Id
    channel: Literal["app", "web", "counter"] = "app"
    success: Flag = True
    ip: Annotated[str, StringConstraints(max_length=45)] | None = None
    location: Location | None = None


class DeviceEvent(_Base):
    """Device facts reported by the app or the carrier: enrolment, SIM swap, risky apps."""

    type: Literal["device"] = "device"
    customer_id: Id
    device_id: Id
    action: Literal["enrol", "remove", "sim_change", "remote_access_app", "overlay_app", "malware", "rooted"]
    detail: str | None = Field(default=None, max_length=256)
    location: Location | None = None


class CardEvent(_Base):
    """The card's lifecycle, from the card management system. A confirmed fraud label blocks a card
    (unless the label says otherwise); ``reissue`` (a new card under the same token) or ``unblock``
    ends the block, ``block`` starts one (reported lost or stolen)."""

    type: Literal["card"] = "card"
    action: Literal["reissue", "unblock", "block"]
    card_id: Id | None = None
    pan: Annotated[str, StringConstraints(pattern=r"^[0-9]{8,19}$")] | None = None
    account_id: Id | None = None
    customer_id: Id


class StaffAccess(_Base):
    """A staff member's query of customer data (credit report, account details, ...)."""

    type: Literal["staff_access"] = "staff_access"
    employee_id: Id
    branch_id: Id
    customer_id: Id
    customer_branch_id: Id | None = None
    query_type: Literal["credit_report", "account_detail", "transaction_history", "personal_data", "card_detail"]
    business_ref: Id | None = None
    records: Whole = Field(default=1, ge=1, le=1_000_000)


class Label(_Base):
    """Feedback: a confirmed fraud or confirmed legitimate event. ``event_time`` is when the
    label became known; features built from labels only see labels known by then."""

    type: Literal["label"] = "label"
    target_event_id: Id
    fraud: Flag
    source: Literal["analyst", "customer_claim", "chargeback", "police", "import"] = "analyst"
    card_id: Id | None = None
    account_id: Id | None = None
    customer_id: Id | None = None
    terminal_id: Id | None = None
    merchant_id: Id | None = None
    device_id: Id | None = None
    payee_id: Id | None = None
    ip: Annotated[str, StringConstraints(max_length=45)] | None = None
    category: Category | None = None
    attributes: Attributes = None
    """The labelled event's text attributes (copied from it when absent), so the known-fraud
    counts of their values see the label."""
    target_event_time: AwareTime | None = None
    blocks_card: Flag = True
    """Whether a confirmed fraud blocks the card until it is reissued or unblocked (the card
    lifecycle). False when the card key is not one physical card, e.g. an id composed from card
    attributes that many cards share."""


Event = Annotated[
    CardPresent | CardNotPresent | MobileTransfer | Login | DeviceEvent | CardEvent | StaffAccess | Label,
    Field(discriminator="type"),
]
EVENT_TYPES = (CardPresent, CardNotPresent, MobileTransfer, Login, DeviceEvent, CardEvent, StaffAccess, Label)
AnyEvent = CardPresent | CardNotPresent | MobileTransfer | Login | DeviceEvent | CardEvent | StaffAccess | Label
MONEY_TYPES = (CardPresent, CardNotPresent, MobileTransfer)
