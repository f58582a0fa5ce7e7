"""Enrolled shield devices, the policy that judges them, and the result of checking one transfer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dunpai.risk.shield.crypto import Algorithm

HOUR = 3600.0

ShieldStatus = Literal[
    "valid",
    "missing",
    "unknown_key",
    "bad_signature",
    "replayed",
    "revoked",
    "stale",
    "wrong_customer",
    "malformed",
]
STATUS_CODES: dict[str, float] = {
    "valid": 0.0,
    "missing": 1.0,
    "unknown_key": 2.0,
    "bad_signature": 3.0,
    "replayed": 4.0,
    "revoked": 5.0,
    "stale": 6.0,
    "wrong_customer": 7.0,
    "malformed": 8.0,
}
"""Stable numeric codes of ``shield_status`` (a feature is a float; rules compare codes)."""


@dataclass(frozen=True, slots=True)
class EnrolledDevice:
    """A device's shield key as registered: public half only, with the device facts sent at enrolment."""

    key_id: str
    customer_id: str
    device_id: str
    algorithm: Algorithm
    public_key: bytes
    enrolled_at: float
    facts: tuple[tuple[str, str], ...] = ()
    revoked_at: float | None = None
    revoked_reason: str | None = None

    def revoked_by(self, t: float) -> bool:
        return self.revoked_at is not None and self.revoked_at <= t


@dataclass(frozen=True, slots=True)
class EnrolmentRequest:
    """What the app sends to enrol: its public key, device facts and a proof of possession (the key's
    signature over the server's challenge)."""

    customer_id: str
    device_id: str
    algorithm: Algorithm
    public_key: bytes
    challenge: str
    proof: str
    facts: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ShieldPolicy:
    """How old a device must be to be trusted, and how far signing time may be from event time."""

    cooling_off_secs: float = 24 * HOUR
    max_age_secs: float = 300.0
    max_clock_skew_secs: float = 60.0

    def __post_init__(self) -> None:
        if self.cooling_off_secs < 0 or self.max_age_secs <= 0 or self.max_clock_skew_secs < 0:
            raise ValueError("shield policy times must be positive")


@dataclass(frozen=True, slots=True)
class VerifiedShield:
    """A transfer whose shield signature verified: the device, its age and whether it is cooling off."""

    device: EnrolledDevice
    device_age_secs: float
    cooling_off: bool


@dataclass(frozen=True, slots=True)
class ShieldCheck:
    """The outcome of checking a transfer, as decision features read it (never raises)."""

    status: ShieldStatus
    device_age_secs: float = 0.0
    cooling_off: bool = False
    key_id: str | None = None
    detail: str = field(default="", compare=False)
    enrolled: bool = True
    """Whether the customer had a shield device enrolled (and not revoked) at the transfer's time: a
    missing signature is a risk signal only for customers who enrolled one."""

    @property
    def valid(self) -> bool:
        return self.status == "valid"
