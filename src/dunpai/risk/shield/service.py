"""The mobile-shield service: enrol a device's key, verify signed transfers, revoke keys.

``verify_transfer`` raises on every failure (never returns a bool). It is the one place that writes
during a decision: the nonce is consumed, keyed by the event id, so a resend of the same event
verifies again while a replay under another event id raises :class:`ReplayedShield`.
"""

from __future__ import annotations

import hmac
from typing import Any

from dunpai.risk.events.schemas import MobileTransfer
from dunpai.risk.shield.crypto import check_public_key, key_id_for, verify_signature
from dunpai.risk.shield.errors import (
    BadShieldSignature,
    MissingShield,
    ReplayedShield,
    RevokedShieldKey,
    ShieldError,
    StaleShield,
    UnknownShieldKey,
    WrongCustomer,
)
from dunpai.risk.shield.model import (
    EnrolledDevice,
    EnrolmentRequest,
    ShieldCheck,
    ShieldPolicy,
    VerifiedShield,
)
from dunpai.risk.shield.payload import TransferPayload, enrolment_payload, epoch_ms
from dunpai.risk.shield.ports import ShieldRepository


class ShieldService:
    def __init__(self, repo: ShieldRepository, policy: ShieldPolicy | None = None) -> None:
        self.repo = repo
        self.policy = policy or ShieldPolicy()

    # --- enrolment and revocation ----------------------------------------------------------------
    def enrol(self, request: EnrolmentRequest, t: float, expected_challenge: str) -> EnrolledDevice:
        """Register the app's public key after checking that it signed the server's challenge.

        ``expected_challenge`` is what the server issued for this enrolment (after the customer's
        identity was checked, e.g. card + SMS + face); the caller keeps it. Raises on any mismatch.
        """
        if not hmac.compare_digest(request.challenge.encode(), expected_challenge.encode()):
            raise BadShieldSignature()
        check_public_key(request.algorithm, request.public_key)
        message = enrolment_payload(
            request.customer_id, request.device_id, request.algorithm, request.public_key, request.challenge
        )
        verify_signature(request.algorithm, request.public_key, message, request.proof)
        device = EnrolledDevice(
            key_id=key_id_for(request.algorithm, request.public_key),
            customer_id=request.customer_id,
            device_id=request.device_id,
            algorithm=request.algorithm,
            public_key=request.public_key,
            enrolled_at=t,
            facts=tuple(sorted(request.facts)),
        )
        self.repo.add_device(device)
        return device

    def revoke(self, key_id: str, t: float, reason: str) -> EnrolledDevice:
        """Revoke a key from ``t`` on (lost phone, customer request, fraud). Later signatures fail."""
        return self.repo.revoke(key_id, t, reason)

    # --- verification ----------------------------------------------------------------------------
    def verify_transfer(self, transfer: MobileTransfer, conn: Any = None) -> VerifiedShield:
        """Verify the transfer's shield signature at its event time, or raise a :class:`ShieldError`.
        ``conn``: the decision batch's transaction, which the nonce claim joins (``None``: its own)."""
        shield = transfer.shield
        if shield is None:
            raise MissingShield("the transfer carries no mobile-shield signature")
        t = transfer.event_time.timestamp()
        device = self.repo.get_device(shield.key_id, conn)
        if device is None or device.enrolled_at > t:
            raise UnknownShieldKey("no shield key enrolled under this id", key_id=shield.key_id)
        if device.customer_id != transfer.customer_id:
            raise WrongCustomer("the shield key belongs to another customer", key_id=shield.key_id)
        message = TransferPayload.of(transfer).canonical()
        verify_signature(device.algorithm, device.public_key, message, shield.signature)
        if device.revoked_by(t):
            raise RevokedShieldKey("the shield key was revoked", key_id=shield.key_id)
        age_ms = epoch_ms(transfer.event_time) - epoch_ms(shield.signed_at)
        if age_ms > self.policy.max_age_secs * 1000 or -age_ms > self.policy.max_clock_skew_secs * 1000:
            raise StaleShield("the signature's time is too far from the transfer's", key_id=shield.key_id)
        holder = self.repo.claim_nonce(shield.key_id, shield.nonce, transfer.event_id, t, conn)
        if holder != transfer.event_id:
            raise ReplayedShield("this signature was already used for another transfer", key_id=shield.key_id)
        age = t - device.enrolled_at
        return VerifiedShield(
            device=device, device_age_secs=age, cooling_off=age < self.policy.cooling_off_secs
        )

    def check(self, transfer: MobileTransfer, conn: Any = None) -> ShieldCheck:
        """The verification's outcome as data, for decision features (``verify_transfer`` raises)."""
        key_id = transfer.shield.key_id if transfer.shield is not None else None
        try:
            verified = self.verify_transfer(transfer, conn)
        except ShieldError as exc:
            enrolled = True
            if isinstance(exc, MissingShield):
                t = transfer.event_time.timestamp()
                enrolled = any(d.enrolled_at <= t and not d.revoked_by(t)
                               for d in self.repo.devices_of(transfer.customer_id, conn))
            return ShieldCheck(status=exc.status, key_id=key_id, detail=exc.code,  # type: ignore[arg-type]
                               enrolled=enrolled)
        return ShieldCheck(
            status="valid",
            device_age_secs=verified.device_age_secs,
            cooling_off=verified.cooling_off,
            key_id=key_id,
        )

    def prune(self, t: float) -> int:
        """Forget nonces older than any signature the policy still accepts."""
        return self.repo.prune_nonces(t - self.policy.max_age_secs - self.policy.max_clock_skew_secs - 1.0)
