"""Customer personal data: sealed at rest, revealed only through the audited, role-checked service."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from dunpai.core.errors import Forbidden, InvalidInput, NotFound
from dunpai.keys import DecryptionFailed
from dunpai.risk.events.schemas import StaffAccess
from dunpai.risk.pii import AccessPolicy, CustomerPii, PurposeRule, RevealRequest, RevealService
from dunpai.risk.pii.tables import pii_customers

Pii = Any  # the ``pii`` fixture's bundle (tests/risk/pii/conftest.py)

ZHANG = CustomerPii("cust-001", "br-nanning-01", "张三", "450102199001011234", "13800138000",
                    "广西南宁市青秀区民族大道 1 号")
LI = CustomerPii("cust-002", "br-binyang-02", "李四", "450126198505052345", "13900139000", "广西宾阳县")


def ask(fields: tuple[str, ...] = ("name", "phone"), **kw: str | None) -> RevealRequest:
    base: dict[str, object] = dict(employee_id="emp-7", role="credit_officer", branch_id="br-nanning-01",
                                   customer_id="cust-001", purpose="loan_application", fields=fields,
                                   business_ref="loan-2026-0042")
    base.update(kw)
    return RevealRequest(**base)  # type: ignore[arg-type]


def test_fields_are_sealed_at_rest(pii: Pii) -> None:
    pii.vault.put(ZHANG, actor="clerk-1")
    with pii.engine.connect() as conn:
        row = conn.execute(select(pii_customers)).one()
    dump = b"|".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in row)
    for secret in (ZHANG.name, ZHANG.id_number, ZHANG.phone, ZHANG.address):
        assert secret.encode() not in dump
    assert row.id_number_token.startswith("idn1.1.")
    assert "张三" not in repr(ZHANG) and "13800138000" not in repr(ZHANG)


def test_granted_reveal_is_audited_and_reported(pii: Pii) -> None:
    pii.vault.put(ZHANG, actor="clerk-1")
    revealed = pii.reveal.reveal(ask())
    assert revealed.values == {"name": "张三", "phone": "13800138000"}
    assert "张三" not in repr(revealed)
    [access] = pii.accesses
    assert (access.employee_id, access.branch_id, access.customer_id, access.query_type, access.purpose,
            access.outcome, access.customer_branch_id) == (
        "emp-7", "br-nanning-01", "cust-001", "personal_data", "loan_application", "granted", "br-nanning-01")
    entries = pii.audit.entries()
    assert [e.action for e in entries] == ["pii.customer.create", "pii.reveal.granted"]
    assert entries[1].seq == access.audit_seq and entries[1].actor == "emp-7"
    assert entries[1].recorded_at.startswith(access.event_time.strftime("%Y-%m-%dT%H:%M:%S"))
    assert "13800138000" not in entries[1].details and "张三" not in entries[0].details
    assert pii.audit.verify().ok
    # The record is a valid staff_access event for the risk engine.
    event = StaffAccess.model_validate(access.as_event())
    assert event.customer_branch_id == "br-nanning-01" and event.business_ref == "loan-2026-0042"


@pytest.mark.parametrize("change,reason", [
    ({"role": "admin"}, "role may not access"),
    ({"purpose": "curiosity"}, "role may not access"),
    ({"business_ref": None}, "business reference"),
    ({"role": "customer_service", "purpose": "customer_call"}, "fields not allowed"),
])
def test_denied_reveal_is_still_recorded(pii: Pii, change: dict[str, str | None], reason: str) -> None:
    pii.vault.put(ZHANG, actor="clerk-1")
    fields = ("name", "id_number") if "customer_call" in change.values() else ("name",)
    with pytest.raises(Forbidden) as denied:
        pii.reveal.reveal(ask(fields, **change))
    assert reason in denied.value.details["reason"]
    [access] = pii.accesses
    assert access.outcome == "denied"
    assert pii.audit.entries()[-1].action == "pii.reveal.denied"


def test_unknown_customer_is_recorded_too(pii: Pii) -> None:
    with pytest.raises(NotFound):
        pii.reveal.reveal(ask(customer_id="cust-999"))
    assert [a.outcome for a in pii.accesses] == ["not_found"]
    assert pii.audit.entries()[-1].action == "pii.reveal.not_found"


def test_cross_branch_access_carries_both_branches(pii: Pii) -> None:
    pii.vault.put(LI, actor="clerk-2")
    pii.reveal.reveal(ask(customer_id="cust-002"))
    [access] = pii.accesses
    assert (access.branch_id, access.customer_branch_id) == ("br-nanning-01", "br-binyang-02")


def test_a_failing_sink_means_no_decryption(pii: Pii) -> None:
    pii.vault.put(ZHANG, actor="clerk-1")

    def broken_sink(access: object) -> None:
        raise RuntimeError("detector intake down")

    service = RevealService(pii.vault, pii.envelope, pii.audit, broken_sink)
    opened: list[bytes] = []
    original_open = pii.envelope.open
    pii.envelope.open = lambda sealed, aad=b"": opened.append(sealed) or original_open(sealed, aad)  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        service.reveal(ask())
    assert opened == []


def test_sealed_values_do_not_move_between_rows_or_columns(pii: Pii) -> None:
    pii.vault.put(ZHANG, actor="clerk-1")
    pii.vault.put(LI, actor="clerk-1")
    with pii.engine.begin() as conn:
        li_name = conn.execute(select(pii_customers.c.name_sealed)
                               .where(pii_customers.c.customer_id == "cust-002")).scalar_one()
        zhang_phone = conn.execute(select(pii_customers.c.phone_sealed)
                                   .where(pii_customers.c.customer_id == "cust-001")).scalar_one()
        conn.execute(update(pii_customers).where(pii_customers.c.customer_id == "cust-001")
                     .values(name_sealed=li_name, address_sealed=zhang_phone))
    with pytest.raises(DecryptionFailed):
        pii.reveal.reveal(ask(("name",)))
    with pytest.raises(DecryptionFailed):
        pii.reveal.reveal(ask(("address",)))
    assert pii.reveal.reveal(ask(("phone",))).values == {"phone": "13800138000"}


def test_lookup_by_id_number_token(pii: Pii) -> None:
    pii.vault.put(ZHANG, actor="clerk-1")
    pii.vault.put(LI, actor="clerk-1")
    assert pii.vault.find_by_id_number("450102199001011234", actor="teller-3") == ["cust-001"]
    assert pii.vault.find_by_id_number("450102199001019999", actor="teller-3") == []
    assert pii.audit.entries()[-1].action == "pii.lookup.id_number"


def test_update_replaces_and_audits(pii: Pii) -> None:
    pii.vault.put(ZHANG, actor="clerk-1")
    moved = CustomerPii("cust-001", "br-nanning-01", "张三", ZHANG.id_number, "13700137000", "新地址")
    pii.vault.put(moved, actor="clerk-1")
    revealed = pii.reveal.reveal(ask(("phone", "address")))
    assert revealed.values == {"phone": "13700137000", "address": "新地址"}
    assert pii.audit.entries()[1].action == "pii.customer.update"


def test_key_rotation_rewraps_every_field(pii: Pii) -> None:
    pii.vault.put(ZHANG, actor="clerk-1")
    pii.vault.put(LI, actor="clerk-1")
    with pii.engine.connect() as conn:
        before = conn.execute(select(pii_customers.c.name_sealed).order_by(pii_customers.c.customer_id)).all()
    pii.keystore.rotate("data-kek")
    assert pii.vault.rewrap_all(actor="sec-admin", batch=1) == 2
    assert pii.vault.rewrap_all(actor="sec-admin") == 0
    with pii.engine.connect() as conn:
        after = conn.execute(select(pii_customers.c.name_sealed).order_by(pii_customers.c.customer_id)).all()
    for (old,), (new,) in zip(before, after, strict=True):
        assert bytes(old)[-(16 + 6 + 12):] == bytes(new)[-(16 + 6 + 12):]  # data untouched
    pii.keystore.destroy("data-kek/v1")
    assert pii.reveal.reveal(ask(("name",))).values == {"name": "张三"}
    assert pii.audit.verify().ok


def test_custom_policy_and_bad_requests(pii: Pii) -> None:
    pii.vault.put(ZHANG, actor="clerk-1")
    open_policy = AccessPolicy(rules=(PurposeRule("auditor", "annual_audit", frozenset({"name"}), False),))
    service = RevealService(pii.vault, pii.envelope, pii.audit, pii.accesses.append, policy=open_policy)
    assert service.reveal(ask(("name",), role="auditor", purpose="annual_audit", business_ref=None)).values
    with pytest.raises(InvalidInput):
        service.reveal(ask(("salary",)))
    with pytest.raises(InvalidInput):
        service.reveal(ask(()))
    with pytest.raises(InvalidInput):
        service.reveal(ask(employee_id="bad id!"))
