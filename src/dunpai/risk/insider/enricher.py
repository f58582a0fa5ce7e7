"""Look-ups for staff-access decisions (case S3): the employee's peer group's normal volume, and
whether a query's business reference matches a real business record for that customer.

Ports: :class:`StaffDirectory` (employee -> peer group, e.g. role), :class:`PeerBaselines` (peer
group -> daily volume quantiles, computed from a past period by :func:`peer_baselines`),
:class:`BusinessRecords` (is there an application or counter visit ``ref`` for this customer?).
In-memory implementations are here; a bank plugs in its HR directory and core-banking records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from dunpai.risk.events.schemas import AnyEvent, StaffAccess

FEATURES = ("staff_peer_p99", "staff_business_valid", "staff_business_forged")


class StaffDirectory(Protocol):
    def peer_group(self, employee_id: str) -> str | None: ...


class PeerBaselines(Protocol):
    def daily_p99(self, group: str) -> float | None: ...


class BusinessRecords(Protocol):
    def matches(self, business_ref: str, customer_id: str) -> bool: ...


@dataclass(frozen=True)
class MemoryDirectory:
    groups: Mapping[str, str]

    def peer_group(self, employee_id: str) -> str | None:
        return self.groups.get(employee_id)


@dataclass(frozen=True)
class MemoryBaselines:
    p99: Mapping[str, float]

    def daily_p99(self, group: str) -> float | None:
        return self.p99.get(group)


class PrefixBusinessRecords:
    """Accepts references of the form ``KIND-<customer>-...`` for the customer they name (the
    generated month's convention); a real deployment queries its application and visit records."""

    def __init__(self, kinds: Iterable[str] = ("VIS", "APP", "REV")) -> None:
        self.kinds = tuple(kinds)

    def matches(self, business_ref: str, customer_id: str) -> bool:
        kind, _, rest = business_ref.partition("-")
        return kind in self.kinds and rest.startswith(customer_id + "-")


def peer_baselines(
    events: Iterable[StaffAccess], groups: Mapping[str, str], quantile: float = 0.99
) -> dict[str, float]:
    """Each peer group's daily query volume at ``quantile`` over employee-days with activity."""
    per_day: dict[tuple[str, str], int] = defaultdict(int)
    for e in events:
        per_day[(e.employee_id, e.event_time.date().isoformat())] += e.records
    by_group: dict[str, list[int]] = defaultdict(list)
    for (emp, _), n in per_day.items():
        group = groups.get(emp)
        if group is not None:
            by_group[group].append(n)
    return {g: float(np.quantile(v, quantile)) for g, v in by_group.items()}


class InsiderEnricher:
    def __init__(
        self, directory: StaffDirectory, baselines: PeerBaselines, business: BusinessRecords | None = None
    ) -> None:
        self.directory = directory
        self.baselines = baselines
        self.business = business

    def feature_names(self) -> tuple[str, ...]:
        return FEATURES

    def enrich(self, event: AnyEvent, t: float, conn: Any = None) -> Mapping[str, float]:
        if not isinstance(event, StaffAccess):
            return {}
        group = self.directory.peer_group(event.employee_id)
        p99 = self.baselines.daily_p99(group) if group is not None else None
        valid = forged = 0.0
        if event.business_ref is not None:
            if self.business is None or self.business.matches(event.business_ref, event.customer_id):
                valid = 1.0
            else:
                forged = 1.0
        return {
            "staff_peer_p99": p99 if p99 is not None else 0.0,
            "staff_business_valid": valid,
            "staff_business_forged": forged,
        }
