"""A generated month of staff access to customer data (case S3), with one data thief.

Hundreds of employees in branches, by role, with realistic daily patterns: working days and hours
with a lunch dip, a personal activity level, mostly own-branch customers, most queries tied to a
business record (a counter visit, a loan application, a review), a few quick look-ups without one,
occasional overtime, loan officers' busy days and a regional back office that reviews many
customers of every branch at month end — the legitimate behaviour that makes false alerts likely.
One employee (the thief) starts, on a given day, to pull tens of thousands of credit reports with
no business behind them, across branches, partly scanning customer ids in sequence, partly after
hours. ``numpy.random.default_rng(seed)``: the same parameters give the same month.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from dunpai.risk.events.schemas import StaffAccess

CST = timezone(timedelta(hours=8))
DAY = 86400.0

# role: (share of staff, mean queries per working day, share with a business record, query types)
ROLES: dict[str, tuple[float, float, float, tuple[str, ...]]] = {
    "teller": (0.45, 35.0, 0.95, ("account_detail", "transaction_history", "card_detail", "personal_data")),
    "account_manager": (0.25, 20.0, 0.92, ("account_detail", "personal_data", "transaction_history")),
    "loan_officer": (0.15, 12.0, 0.97, ("credit_report", "personal_data", "account_detail")),
    "back_office": (0.15, 25.0, 0.97, ("transaction_history", "account_detail", "card_detail")),
}


@dataclass(frozen=True)
class StaffScenario:
    employees: int = 300
    branches: int = 30
    days: int = 30
    customers_per_branch: int = 20_000
    thief_start_day: int = 12
    thief_reports: int = 30_000
    thief_scan_share: float = 0.4
    thief_off_hours_share: float = 0.3
    start: str = "2026-03-01"
    seed: int = 20260301

    def __post_init__(self) -> None:
        if (
            self.employees < 10
            or self.branches < 2
            or not 0 < self.thief_start_day < self.days
            or (self.thief_reports < 0)
        ):
            raise ValueError("invalid staff scenario")


@dataclass
class StaffMonth:
    scenario: StaffScenario
    events: list[StaffAccess]
    thief: str
    thief_first_event: int
    """Index into ``events`` of the thief's first abnormal query."""
    roles: dict[str, str] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    thief_queries: int = 0

    def employee_days(self) -> int:
        return len(self.roles) * self.scenario.days

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": asdict(self.scenario),
            "events": len(self.events),
            "employees": len(self.roles),
            "employee_days": self.employee_days(),
            "thief": self.thief,
            "thief_queries": self.thief_queries,
        }


def _customer(branch: int, n: int) -> str:
    return f"CU{branch:03d}{n:07d}"


def generate_s3_events(scenario: StaffScenario | None = None) -> StaffMonth:
    """The month's ``StaffAccess`` events in event-time order, and who the thief is."""
    sc = scenario or StaffScenario()
    rng = np.random.default_rng(sc.seed)
    start = datetime.fromisoformat(sc.start).replace(tzinfo=CST)
    names = list(ROLES)
    shares = np.array([ROLES[r][0] for r in names])
    roles: dict[str, str] = {}
    branches: dict[str, str] = {}
    rows: list[tuple[float, int, dict[str, Any]]] = []
    seq = 0
    regional = sc.branches  # the regional back office sees every branch's customers
    for i in range(sc.employees):
        emp = f"E{i:05d}"
        role = names[int(rng.choice(len(names), p=shares / shares.sum()))]
        branch = int(rng.integers(0, sc.branches))
        roles[emp] = role
        branches[emp] = f"B{branch:03d}" if role != "back_office" else f"B{regional:03d}"
        _, mean, biz_share, qtypes = ROLES[role]
        level = float(rng.lognormal(0.0, 0.35))
        works_saturday = role == "teller" and rng.random() < 0.3
        for d in range(sc.days):
            day = start + timedelta(days=d)
            weekday = day.weekday()
            if weekday == 6 or (weekday == 5 and not works_saturday):
                continue
            if rng.random() < 0.04:  # leave, training, sick day
                continue
            rate = mean * level * (0.6 if weekday == 5 else 1.0)
            if role == "loan_officer" and rng.random() < 0.1:
                rate *= 4.0  # a batch of applications
            if role == "back_office" and d >= sc.days - 3:
                rate *= 8.0  # month-end review of accounts across the region
            n = int(rng.poisson(rate))
            overtime = rng.random() < 0.08
            for _ in range(n):
                hour = _work_hour(rng, overtime)
                t = (day + timedelta(hours=hour)).timestamp()
                own = rng.random() < (0.93 if role != "back_office" else 0.0)
                cbranch = branch if own else int(rng.integers(0, sc.branches))
                customer = _customer(cbranch, int(rng.integers(0, sc.customers_per_branch)))
                has_biz = rng.random() < biz_share
                ref = None
                if has_biz:
                    prefix = {"teller": "VIS", "account_manager": "VIS", "loan_officer": "APP", "back_office": "REV"}
                    ref = f"{prefix[role]}-{customer}-{d}"
                rows.append(
                    (
                        t,
                        seq,
                        dict(
                            employee_id=emp,
                            branch_id=branches[emp],
                            customer_id=customer,
                            customer_branch_id=f"B{cbranch:03d}" if role != "back_office" else branches[emp],
                            query_type=str(rng.choice(qtypes)),
                            business_ref=ref,
                        ),
                    )
                )
                seq += 1
    # The thief: a loan officer who turns to selling credit reports.
    loan_officers = sorted(e for e, r in roles.items() if r == "loan_officer") or sorted(roles)
    thief = loan_officers[int(rng.integers(0, len(loan_officers)))] if sc.thief_reports > 0 else ""
    thief_branch = int(branches[thief][1:]) if thief else 0
    days_left = sc.days - sc.thief_start_day if thief else 0
    per_day = np.diff(np.linspace(0, sc.thief_reports, days_left + 1).round()).astype(int)
    scan_next = int(rng.integers(0, sc.customers_per_branch - 10_000))
    thief_rows: list[tuple[float, int, dict[str, Any]]] = []
    for k, n in enumerate(per_day.tolist()):
        day = start + timedelta(days=sc.thief_start_day + k)
        for _ in range(n):
            off = rng.random() < sc.thief_off_hours_share
            hour = float(rng.uniform(20.0, 23.5)) if off else float(rng.uniform(9.0, 17.0))
            t = (day + timedelta(hours=hour)).timestamp()
            if rng.random() < sc.thief_scan_share:
                cbranch, number = thief_branch, scan_next
                scan_next += 1
            else:
                cbranch, number = int(rng.integers(0, sc.branches)), int(rng.integers(0, sc.customers_per_branch))
            thief_rows.append(
                (
                    t,
                    seq,
                    dict(
                        employee_id=thief,
                        branch_id=branches[thief],
                        customer_id=_customer(cbranch, number),
                        customer_branch_id=f"B{cbranch:03d}",
                        query_type="credit_report",
                        business_ref=None,
                    ),
                )
            )
            seq += 1
    rows += thief_rows
    rows.sort(key=lambda r: (r[0], r[1]))
    theft = {r[1] for r in thief_rows}
    events: list[StaffAccess] = []
    first_index = -1
    for idx, (t, s, fields) in enumerate(rows):
        if first_index < 0 and s in theft:
            first_index = idx
        events.append(StaffAccess(event_id=f"s3-{s}", event_time=datetime.fromtimestamp(t, CST), **fields))
    return StaffMonth(sc, events, thief, first_index, roles, branches, len(thief_rows))


def _work_hour(rng: np.random.Generator, overtime: bool) -> float:
    """Hours after midnight (local): 08:30–17:30 with a lunch dip; overtime runs to 20:30."""
    while True:
        hour = float(rng.uniform(8.5, 20.5 if overtime else 17.5))
        if 12.0 <= hour < 13.5 and rng.random() < 0.7:
            continue
        return hour
