"""Mobile shield (手机盾): device-bound transaction signing — enrol, verify (raises), revoke.

The app generates its key pair on the device (Ed25519 or ECDSA P-256) and registers the public key
with device facts; it signs a canonical, versioned payload of what the customer confirms (payee,
amount, currency, time, nonce). The server verifies, rejects replays and revoked keys, and treats a
newly enrolled device as cooling off. Decisions read the result through :class:`ShieldEnricher`.
"""

from dunpai.risk.shield.client import ShieldApp
from dunpai.risk.shield.enricher import ShieldEnricher, shield_features
from dunpai.risk.shield.errors import (
    BadShieldSignature,
    MalformedShield,
    MissingShield,
    ReplayedShield,
    RevokedShieldKey,
    ShieldError,
    StaleShield,
    UnknownShieldKey,
    WrongCustomer,
)
from dunpai.risk.shield.model import STATUS_CODES, EnrolledDevice, EnrolmentRequest, ShieldCheck, ShieldPolicy
from dunpai.risk.shield.payload import PAYLOAD_VERSION, TransferPayload
from dunpai.risk.shield.ports import MemoryShieldRepository, ShieldRepository
from dunpai.risk.shield.service import ShieldService

__all__ = [
    "PAYLOAD_VERSION",
    "STATUS_CODES",
    "BadShieldSignature",
    "EnrolledDevice",
    "EnrolmentRequest",
    "MalformedShield",
    "MemoryShieldRepository",
    "MissingShield",
    "ReplayedShield",
    "RevokedShieldKey",
    "ShieldApp",
    "ShieldCheck",
    "ShieldEnricher",
    "ShieldError",
    "ShieldPolicy",
    "ShieldRepository",
    "ShieldService",
    "StaleShield",
    "TransferPayload",
    "UnknownShieldKey",
    "WrongCustomer",
    "shield_features",
]
