"""Customer personal data at rest: every personal field is a sealed envelope, never clear text.

``id_number_token`` is a keyed token (``dunpai.keys.KeyedTokenizer``) so a customer can be found by
ID-card number without storing or decrypting it.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, LargeBinary, String, Table

from dunpai.core.db import metadata

pii_customers = Table(
    "pii_customers",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("branch_id", String(64), nullable=False),
    Column("id_number_token", String(64), nullable=False),
    Column("name_sealed", LargeBinary, nullable=False),
    Column("id_number_sealed", LargeBinary, nullable=False),
    Column("phone_sealed", LargeBinary, nullable=False),
    Column("address_sealed", LargeBinary, nullable=False),
    Column("updated_at", String(40), nullable=False),
    Index("ix_pii_customers_id_number_token", "id_number_token"),
)
