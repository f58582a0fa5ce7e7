"""SQLAlchemy implementation of :class:`ShieldRepository` (SQLite embedded, PostgreSQL in production).

The reads and the nonce claim that a decision makes take the batch's connection (``conn``) when the
service passes one: the claim then commits or rolls back with the decision it belongs to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from dunpai.core.errors import NotFound
from dunpai.risk.shield.errors import ShieldKeyExists
from dunpai.risk.shield.model import EnrolledDevice
from dunpai.risk.shield.ports import same_enrolment
from dunpai.risk.shield.tables import shield_devices, shield_nonces


def _device(row: Any) -> EnrolledDevice:
    facts = json.loads(row.facts or "{}")
    return EnrolledDevice(
        key_id=row.key_id,
        customer_id=row.customer_id,
        device_id=row.device_id,
        algorithm=row.algorithm,
        public_key=bytes(row.public_key),
        enrolled_at=row.enrolled_at,
        facts=tuple(sorted((str(k), str(v)) for k, v in facts.items())),
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
    )


class SqlShieldRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_device(self, device: EnrolledDevice) -> None:
        values = {
            "key_id": device.key_id,
            "customer_id": device.customer_id,
            "device_id": device.device_id,
            "algorithm": device.algorithm,
            "public_key": device.public_key,
            "enrolled_at": device.enrolled_at,
            "facts": json.dumps(dict(device.facts), sort_keys=True, ensure_ascii=False),
            "revoked_at": device.revoked_at,
            "revoked_reason": device.revoked_reason,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(shield_devices).values(**values))
        except IntegrityError:
            old = self.get_device(device.key_id)
            if old is None or not same_enrolment(old, device):
                raise ShieldKeyExists(
                    "a different device is already enrolled with this key", key_id=device.key_id
                ) from None

    @contextmanager
    def _reading(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
            return
        with self.engine.connect() as own:
            yield own

    def get_device(self, key_id: str, conn: Connection | None = None) -> EnrolledDevice | None:
        with self._reading(conn) as c:
            row = c.execute(select(shield_devices).where(shield_devices.c.key_id == key_id)).first()
        return None if row is None else _device(row)

    def devices_of(self, customer_id: str, conn: Connection | None = None) -> list[EnrolledDevice]:
        with self._reading(conn) as c:
            rows = c.execute(
                select(shield_devices)
                .where(shield_devices.c.customer_id == customer_id)
                .order_by(shield_devices.c.enrolled_at, shield_devices.c.key_id)
            ).all()
        return [_device(r) for r in rows]

    def revoke(self, key_id: str, t: float, reason: str) -> EnrolledDevice:
        c = shield_devices.c
        with self.engine.begin() as conn:
            conn.execute(
                update(shield_devices)
                .where(c.key_id == key_id)
                .where((c.revoked_at.is_(None)) | (c.revoked_at > t))
                .values(revoked_at=t, revoked_reason=reason[:256])
            )
            row = conn.execute(select(shield_devices).where(c.key_id == key_id)).first()
        if row is None:
            raise NotFound("no such shield key", key_id=key_id)
        return _device(row)

    def claim_nonce(self, key_id: str, nonce: str, event_id: str, t: float, conn: Connection | None = None) -> str:
        c = shield_nonces.c
        if conn is not None:
            return _claim_in(conn, key_id, nonce, event_id, t)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(shield_nonces).values(key_id=key_id, nonce=nonce, event_id=event_id, claimed_at=t)
                )
            return event_id
        except IntegrityError:
            with self.engine.connect() as conn:
                holder = conn.execute(
                    select(c.event_id).where(c.key_id == key_id, c.nonce == nonce)
                ).scalar_one()
            return str(holder)

    def prune_nonces(self, before: float) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(delete(shield_nonces).where(shield_nonces.c.claimed_at < before))
        return int(result.rowcount or 0)


def _claim_in(conn: Connection, key_id: str, nonce: str, event_id: str, t: float) -> str:
    """Claim inside the caller's transaction: a conflict must not abort it (PostgreSQL would), so
    the insert does nothing on a held nonce; a concurrent claimer's insert waits for this
    transaction and then finds the nonce held."""
    c = shield_nonces.c
    values = {"key_id": key_id, "nonce": nonce, "event_id": event_id, "claimed_at": t}
    name = conn.dialect.name
    if name in ("postgresql", "sqlite"):
        dialect_insert = postgresql.insert if name == "postgresql" else sqlite.insert
        conn.execute(dialect_insert(shield_nonces).values(**values).on_conflict_do_nothing())
    else:  # any other database: a savepoint keeps the conflict from aborting the batch
        try:
            with conn.begin_nested():
                conn.execute(insert(shield_nonces).values(**values))
        except IntegrityError:
            pass
    holder = conn.execute(select(c.event_id).where(c.key_id == key_id, c.nonce == nonce)).scalar_one()
    return str(holder)
