"""Decision features from the mobile shield, for the engine's ``enrichers``.

``shield_valid`` 1/0; ``shield_status`` the stable code of :data:`STATUS_CODES`;
``shield_device_age_secs`` how long the signing device has been enrolled (0 when not valid);
``shield_cooling_off`` 1 while a valid device is still inside its cooling-off period;
``shield_trusted`` 1 for a valid signature from a device past its cooling-off period;
``shield_enrolled`` 1 when the customer had a shield device enrolled at the transfer's time (a
missing signature from a customer who never enrolled one is no sign of takeover).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from dunpai.risk.events.schemas import AnyEvent, MobileTransfer
from dunpai.risk.shield.model import STATUS_CODES, ShieldCheck

FEATURES = ("shield_valid", "shield_status", "shield_device_age_secs", "shield_cooling_off", "shield_trusted",
            "shield_enrolled")


class ShieldChecker(Protocol):
    def check(self, transfer: MobileTransfer, conn: Any = None) -> ShieldCheck: ...


def shield_features(result: ShieldCheck) -> dict[str, float]:
    valid = result.valid
    return {
        "shield_valid": 1.0 if valid else 0.0,
        "shield_status": STATUS_CODES[result.status],
        "shield_device_age_secs": result.device_age_secs if valid else 0.0,
        "shield_cooling_off": 1.0 if valid and result.cooling_off else 0.0,
        "shield_trusted": 1.0 if valid and not result.cooling_off else 0.0,
        "shield_enrolled": 1.0 if result.enrolled else 0.0,
    }


class ShieldEnricher:
    """Verifies each mobile transfer's shield through the service (which consumes the nonce, in the
    decision batch's transaction ``conn`` when the service passes one)."""

    def __init__(self, checker: ShieldChecker) -> None:
        self.checker = checker

    def feature_names(self) -> tuple[str, ...]:
        return FEATURES

    def enrich(self, event: AnyEvent, t: float, conn: Any = None) -> Mapping[str, float]:
        if not isinstance(event, MobileTransfer):
            return {}
        return shield_features(self.checker.check(event, conn))
