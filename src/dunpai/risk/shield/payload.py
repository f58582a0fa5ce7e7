"""The canonical, versioned payload that the mobile shield signs: exactly what the customer saw
and confirmed on screen (payee, amount, currency, time) plus a one-time nonce.

Format ``v1``: the ASCII line ``dunpai-shield/v1`` and a newline, then UTF-8 JSON with sorted keys,
no insignificant whitespace, no floats (money is a decimal string of minor units, time is integer
milliseconds since the Unix epoch, text is Unicode NFC). Two implementations that follow this text
produce the same bytes; a changed field, a changed version or a reordered field changes them.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from dunpai.risk.events.schemas import MobileTransfer
from dunpai.risk.shield.errors import MalformedShield

PAYLOAD_VERSION = 1
_HEADER = b"dunpai-shield/v1\n"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ENROL_HEADER = b"dunpai-shield-enrol/v1\n"


def epoch_ms(when: datetime) -> int:
    """Integer milliseconds since the epoch (exact; no float rounding)."""
    if when.tzinfo is None:
        raise MalformedShield("shield time must carry a timezone")
    return (when - _EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class TransferPayload:
    """The fields of a transfer the customer confirms on the phone."""

    key_id: str
    customer_id: str
    account_id: str
    kind: str
    payee_id: str
    payee_name: str
    amount_minor: int
    currency: str
    signed_at_ms: int
    nonce: str

    @classmethod
    def of(cls, transfer: MobileTransfer) -> TransferPayload:
        """The payload a shield-signed transfer claims to carry (its shield must be present)."""
        shield = transfer.shield
        if shield is None:
            raise MalformedShield("the transfer carries no mobile-shield signature")
        return cls.build(transfer, key_id=shield.key_id, nonce=shield.nonce, signed_at=shield.signed_at)

    @classmethod
    def build(
        cls, transfer: MobileTransfer, *, key_id: str, nonce: str, signed_at: datetime
    ) -> TransferPayload:
        amount = Decimal(transfer.amount)
        return cls(
            key_id=key_id,
            customer_id=transfer.customer_id,
            account_id=transfer.account_id,
            kind=transfer.kind,
            payee_id=transfer.payee_id,
            payee_name=transfer.payee_name or "",
            amount_minor=int(amount),
            currency=transfer.currency,
            signed_at_ms=epoch_ms(signed_at),
            nonce=nonce,
        )

    def canonical(self) -> bytes:
        body = {
            "v": PAYLOAD_VERSION,
            "key_id": self.key_id,
            "customer_id": self.customer_id,
            "account_id": self.account_id,
            "kind": self.kind,
            "payee_id": self.payee_id,
            "payee_name": unicodedata.normalize("NFC", self.payee_name),
            "amount": str(self.amount_minor),
            "currency": self.currency,
            "signed_at_ms": self.signed_at_ms,
            "nonce": self.nonce,
        }
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return _HEADER + text.encode("utf-8")


def enrolment_payload(
    customer_id: str, device_id: str, algorithm: str, public_key: bytes, challenge: str
) -> bytes:
    """What the app signs at enrolment to prove it holds the private key (proof of possession)."""
    body = {
        "customer_id": customer_id,
        "device_id": device_id,
        "algorithm": algorithm,
        "public_key": public_key.hex(),
        "challenge": challenge,
    }
    return ENROL_HEADER + json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
