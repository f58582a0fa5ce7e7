"""A reference client that plays the bank's app in tests and the demo.

The private key is generated here, "on the device", and never leaves this object; the server only
ever sees the public key, the enrolment proof and transfer signatures over the canonical payload.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dunpai.risk.events.schemas import MobileTransfer, Shield
from dunpai.risk.shield.crypto import Algorithm, b64, key_id_for
from dunpai.risk.shield.model import EnrolmentRequest
from dunpai.risk.shield.payload import TransferPayload, enrolment_payload


class ShieldApp:
    """One phone's shield: a device-bound key pair that signs what the customer confirms."""

    def __init__(
        self,
        customer_id: str,
        device_id: str,
        algorithm: Algorithm = "ed25519",
        facts: dict[str, str] | None = None,
    ) -> None:
        self.customer_id = customer_id
        self.device_id = device_id
        self.algorithm: Algorithm = algorithm
        self.facts = tuple(
            sorted((facts or {"os": "android-14", "model": "reference", "app": "dunpai-ref/1"}).items())
        )
        self._ed: Ed25519PrivateKey | None = None
        self._ec: ec.EllipticCurvePrivateKey | None = None
        if algorithm == "ed25519":
            self._ed = Ed25519PrivateKey.generate()
            self.public_key = self._ed.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        elif algorithm == "ecdsa-p256":
            self._ec = ec.generate_private_key(ec.SECP256R1())
            self.public_key = self._ec.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        else:
            raise ValueError(f"unsupported shield algorithm {algorithm!r}")
        self.key_id = key_id_for(algorithm, self.public_key)

    def _sign(self, message: bytes) -> str:
        if self._ed is not None:
            return b64(self._ed.sign(message))
        if self._ec is None:
            raise RuntimeError("no key")
        return b64(self._ec.sign(message, ec.ECDSA(hashes.SHA256())))

    def enrolment_request(self, challenge: str) -> EnrolmentRequest:
        message = enrolment_payload(
            self.customer_id, self.device_id, self.algorithm, self.public_key, challenge
        )
        return EnrolmentRequest(
            customer_id=self.customer_id,
            device_id=self.device_id,
            algorithm=self.algorithm,
            public_key=self.public_key,
            challenge=challenge,
            proof=self._sign(message),
            facts=self.facts,
        )

    def sign(
        self, transfer: MobileTransfer, signed_at: datetime | None = None, nonce: str | None = None
    ) -> Shield:
        """The shield block for ``transfer`` as the customer confirms it on screen."""
        when = signed_at or transfer.event_time
        nonce = nonce or secrets.token_urlsafe(16)
        payload = TransferPayload.build(transfer, key_id=self.key_id, nonce=nonce, signed_at=when)
        return Shield(
            key_id=self.key_id, nonce=nonce, signed_at=when, signature=self._sign(payload.canonical())
        )

    def signed(
        self, transfer: MobileTransfer, signed_at: datetime | None = None, nonce: str | None = None
    ) -> MobileTransfer:
        """A copy of ``transfer`` carrying this app's signature (the event itself is never mutated)."""
        return transfer.model_copy(update={"shield": self.sign(transfer, signed_at, nonce)})
