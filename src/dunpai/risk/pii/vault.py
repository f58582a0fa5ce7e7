"""The customer personal-data vault: seals fields on the way in; never opens them.

Opening happens in exactly one place, ``RevealService`` (``reveal.py``), which checks the caller's
role and purpose and audits every access. Each field is sealed with its own data key and bound to
its customer and field name, so a sealed value copied to another row or column does not open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, select

from dunpai.audit.chain import timestamp
from dunpai.audit.log import AuditLog
from dunpai.keys.envelope import Envelope
from dunpai.keys.tokens import KeyedTokenizer
from dunpai.risk.pii.model import PII_FIELDS, CustomerPii, PiiField, check_id
from dunpai.risk.pii.tables import pii_customers

Clock = Callable[[], datetime]


def field_aad(customer_id: str, field: PiiField) -> bytes:
    return b"dunpai-pii\x01" + customer_id.encode() + b"\x00" + field.encode()


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SealedCustomer:
    customer_id: str
    branch_id: str
    sealed: dict[PiiField, bytes]


class PiiVault:
    def __init__(self, engine: Engine, envelope: Envelope, id_tokenizer: KeyedTokenizer, audit: AuditLog,
                 *, clock: Clock = _utc_now) -> None:
        self._engine = engine
        self._envelope = envelope
        self._ids = id_tokenizer
        self._audit = audit
        self._clock = clock

    def put(self, customer: CustomerPii, *, actor: str) -> None:
        """Insert or replace a customer's personal data (audited; values never enter the audit)."""
        row: dict[str, object] = {f"{f}_sealed": self._envelope.seal(getattr(customer, f).encode("utf-8"),
                                                  field_aad(customer.customer_id, f)) for f in PII_FIELDS}
        row.update(branch_id=customer.branch_id, id_number_token=self._ids.token(customer.id_number),
                   updated_at=timestamp(self._clock()))
        with self._engine.begin() as conn:
            exists = conn.execute(select(pii_customers.c.customer_id)
                                  .where(pii_customers.c.customer_id == customer.customer_id)).first()
            if exists:
                conn.execute(pii_customers.update()
                             .where(pii_customers.c.customer_id == customer.customer_id).values(**row))
            else:
                conn.execute(pii_customers.insert().values(customer_id=customer.customer_id, **row))
            self._audit.append(actor, "pii.customer.update" if exists else "pii.customer.create",
                               f"customer:{customer.customer_id}",
                               {"branch_id": customer.branch_id, "fields": list(PII_FIELDS)}, conn=conn)

    def sealed(self, customer_id: str, *, conn: Connection | None = None) -> SealedCustomer | None:
        check_id("customer_id", customer_id)
        query = select(pii_customers).where(pii_customers.c.customer_id == customer_id)
        if conn is None:
            with self._engine.connect() as own:
                row = own.execute(query).first()
        else:
            row = conn.execute(query).first()
        if row is None:
            return None
        return SealedCustomer(row.customer_id, row.branch_id,
                              {f: bytes(getattr(row, f"{f}_sealed")) for f in PII_FIELDS})

    def find_by_id_number(self, id_number: str, *, actor: str) -> list[str]:
        """Customer ids holding this ID-card number, found by keyed token (audited look-up)."""
        tokens = self._ids.candidates(id_number)
        with self._engine.begin() as conn:
            ids = [r.customer_id for r in conn.execute(
                select(pii_customers.c.customer_id).where(pii_customers.c.id_number_token.in_(tokens))
                .order_by(pii_customers.c.customer_id))]
            self._audit.append(actor, "pii.lookup.id_number", "customers", {"matches": len(ids)}, conn=conn)
        return ids

    def rewrap_all(self, *, actor: str, batch: int = 500) -> int:
        """After rotating the wrapping key: move every field to the active key version.

        Only the wrapped data keys change; the ciphertexts of the personal data are not touched.
        Returns the number of customers changed (audited as one administrative entry).
        """
        changed, after = 0, ""
        while True:
            with self._engine.begin() as conn:
                rows = conn.execute(select(pii_customers).where(pii_customers.c.customer_id > after)
                                    .order_by(pii_customers.c.customer_id).limit(batch)).all()
                for row in rows:
                    new = {f"{f}_sealed": self._envelope.rewrap(bytes(getattr(row, f"{f}_sealed")))
                           for f in PII_FIELDS}
                    if any(new[f"{f}_sealed"] != bytes(getattr(row, f"{f}_sealed")) for f in PII_FIELDS):
                        conn.execute(pii_customers.update()
                                     .where(pii_customers.c.customer_id == row.customer_id).values(**new))
                        changed += 1
            if not rows:
                break
            after = rows[-1].customer_id
        self._audit.append(actor, "pii.rewrap", "pii_customers", {"customers": changed})
        return changed
