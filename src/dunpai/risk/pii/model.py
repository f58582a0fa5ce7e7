"""Customer personal data, reveal requests, and the staff data-access record the insider detector reads.

Values of personal fields never appear in a ``repr``, a log line or an audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, get_args

from dunpai.core.errors import FieldProblem, InvalidInput
from dunpai.core.ids import is_valid_id

PiiField = Literal["name", "id_number", "phone", "address"]
PII_FIELDS: tuple[PiiField, ...] = get_args(PiiField)
Outcome = Literal["granted", "denied", "not_found"]


def check_id(name: str, value: str) -> str:
    if not isinstance(value, str) or not is_valid_id(value):
        raise InvalidInput(f"invalid {name}", problems=[FieldProblem(name, "1..128 of A-Z a-z 0-9 _ . : -")])
    return value


def check_fields(fields: tuple[str, ...]) -> tuple[PiiField, ...]:
    if not fields:
        raise InvalidInput("no fields requested", problems=[FieldProblem("fields", "at least one")])
    checked: list[PiiField] = []
    for i, name in enumerate(fields):
        match = next((f for f in PII_FIELDS if f == name), None)
        if match is None:
            raise InvalidInput("unknown personal field",
                               problems=[FieldProblem(f"fields[{i}]", f"one of {', '.join(PII_FIELDS)}")])
        if match not in checked:
            checked.append(match)
    return tuple(checked)


@dataclass(frozen=True, repr=False)
class CustomerPii:
    """A customer's personal fields in clear: exists only on the way in and on the way out."""

    customer_id: str
    branch_id: str
    name: str
    id_number: str
    phone: str
    address: str

    def __post_init__(self) -> None:
        check_id("customer_id", self.customer_id)
        check_id("branch_id", self.branch_id)
        for name in PII_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > 512:
                raise InvalidInput("invalid personal field",
                                   problems=[FieldProblem(name, "text, at most 512")])

    def __repr__(self) -> str:
        return f"CustomerPii(customer_id={self.customer_id!r}, <personal fields hidden>)"


@dataclass(frozen=True, repr=False)
class RevealedPii:
    """What a granted reveal returns: only the fields asked for and allowed."""

    customer_id: str
    values: dict[PiiField, str]

    def __repr__(self) -> str:
        return f"RevealedPii(customer_id={self.customer_id!r}, fields={sorted(self.values)!r})"


@dataclass(frozen=True)
class RevealRequest:
    """Who asks (employee, role, their branch), for whom, for what purpose, and which fields.

    ``business_ref`` names the business that justifies the access (a loan application, a case, a
    counter session, a call ticket); the policy demands one, and the insider detector (S3) checks
    that it exists.
    """

    employee_id: str
    role: str
    branch_id: str
    customer_id: str
    purpose: str
    fields: tuple[str, ...]
    business_ref: str | None = None
    query_type: str = "personal_data"

    def checked(self) -> RevealRequest:
        check_id("employee_id", self.employee_id)
        check_id("role", self.role)
        check_id("branch_id", self.branch_id)
        check_id("customer_id", self.customer_id)
        check_id("purpose", self.purpose)
        check_id("query_type", self.query_type)
        if self.business_ref is not None:
            check_id("business_ref", self.business_ref)
        return RevealRequest(self.employee_id, self.role, self.branch_id, self.customer_id, self.purpose,
                             check_fields(self.fields), self.business_ref, self.query_type)


@dataclass(frozen=True)
class StaffDataAccess:
    """One staff access to customer personal data — granted, denied or for an unknown customer.

    The insider-access detector consumes these (S3: bulk queries, no matching business, off-hours,
    customers outside the employee's branch). ``event_time`` is when the access happened.
    """

    access_id: str
    employee_id: str
    branch_id: str
    customer_id: str
    customer_branch_id: str | None
    query_type: str
    purpose: str
    event_time: datetime
    role: str
    fields: tuple[str, ...]
    business_ref: str | None
    outcome: Outcome
    audit_seq: int
    records: int = field(default=1)

    def as_event(self) -> dict[str, Any]:
        """This access as a ``staff_access`` event (``risk.events.schemas.StaffAccess``)."""
        return {
            "type": "staff_access",
            "schema_version": 1,
            "event_id": self.access_id,
            "event_time": self.event_time,
            "employee_id": self.employee_id,
            "branch_id": self.branch_id,
            "customer_id": self.customer_id,
            "customer_branch_id": self.customer_branch_id,
            "query_type": self.query_type,
            "business_ref": self.business_ref,
            "records": self.records,
        }


class StaffAccessSink(Protocol):
    """Where reveal records go (the insider detector's intake). A plain function fits.

    If the sink raises, the reveal fails closed: no personal data is decrypted.
    """

    def __call__(self, access: StaffDataAccess) -> None: ...
