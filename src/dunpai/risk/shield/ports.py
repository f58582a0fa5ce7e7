"""Where enrolled shield keys and consumed nonces live: the port, and its in-memory implementation.

The SQL implementation (``shield.sql``) passes the same contract tests (``tests/risk/shield``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from dunpai.core.errors import NotFound
from dunpai.risk.shield.errors import ShieldKeyExists
from dunpai.risk.shield.model import EnrolledDevice


class ShieldRepository(Protocol):
    def add_device(self, device: EnrolledDevice) -> None:
        """Store an enrolment. The same enrolment again is a no-op; a different one under the same
        key id raises :class:`ShieldKeyExists`."""
        ...

    def get_device(self, key_id: str, conn: Any = None) -> EnrolledDevice | None: ...

    def devices_of(self, customer_id: str, conn: Any = None) -> list[EnrolledDevice]: ...

    def revoke(self, key_id: str, t: float, reason: str) -> EnrolledDevice:
        """Mark the key revoked from ``t`` on (the earliest revocation wins); raises ``NotFound``."""
        ...

    def claim_nonce(self, key_id: str, nonce: str, event_id: str, t: float, conn: Any = None) -> str:
        """Consume ``nonce`` for ``event_id`` unless already consumed; return the event id that holds it.
        A resend of the same event gets its own id back (idempotent); a replay gets another one.
        ``conn``: the caller's open transaction (the decision batch's), which the claim joins."""
        ...

    def prune_nonces(self, before: float) -> int:
        """Forget nonces consumed before ``before`` (stale signatures are refused anyway)."""
        ...


def same_enrolment(a: EnrolledDevice, b: EnrolledDevice) -> bool:
    keys = ("key_id", "customer_id", "device_id", "algorithm", "public_key", "enrolled_at")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


class MemoryShieldRepository:
    def __init__(self) -> None:
        self._devices: dict[str, EnrolledDevice] = {}
        self._nonces: dict[tuple[str, str], tuple[str, float]] = {}

    def add_device(self, device: EnrolledDevice) -> None:
        old = self._devices.get(device.key_id)
        if old is not None:
            if same_enrolment(old, device):
                return
            raise ShieldKeyExists(
                "a different device is already enrolled with this key", key_id=device.key_id
            )
        self._devices[device.key_id] = device

    def get_device(self, key_id: str, conn: Any = None) -> EnrolledDevice | None:
        return self._devices.get(key_id)

    def devices_of(self, customer_id: str, conn: Any = None) -> list[EnrolledDevice]:
        return sorted(
            (d for d in self._devices.values() if d.customer_id == customer_id),
            key=lambda d: (d.enrolled_at, d.key_id),
        )

    def revoke(self, key_id: str, t: float, reason: str) -> EnrolledDevice:
        device = self._devices.get(key_id)
        if device is None:
            raise NotFound("no such shield key", key_id=key_id)
        if device.revoked_at is None or t < device.revoked_at:
            device = dataclasses.replace(device, revoked_at=t, revoked_reason=reason)
            self._devices[key_id] = device
        return device

    def claim_nonce(self, key_id: str, nonce: str, event_id: str, t: float, conn: Any = None) -> str:
        holder = self._nonces.setdefault((key_id, nonce), (event_id, t))
        return holder[0]

    def prune_nonces(self, before: float) -> int:
        old = [k for k, (_, t) in self._nonces.items() if t < before]
        for k in old:
            del self._nonces[k]
        return len(old)
