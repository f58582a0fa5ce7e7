"""Cases S3 (insider selling customer data) and S4 (skimmed terminals) for the demo.

S3: a day of ordinary staff queries from the generated staff month (Handbook-independent, see
``risk.insider.scenario``), plus an employee who pulls credit reports in bulk from an intranet
query account late in the evening — thousands of records per query, no matching business, customers
of other branches, in sequence (the source: 500,000+ reports sold for 30–50 yuan each).

S4: two skimmed terminals among sixty (``risk.compromise.scenario``); victims' counterfeit cash-outs
follow days to weeks later elsewhere; labels arrive seven days after each fraud. The point-of-
compromise job runs once per simulated day on what is known by then; its flags and exposed cards go
to the live exposure list, which the engine reads on every card event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dunpai.risk.compromise.job import CompromiseJob
from dunpai.risk.compromise.model import TerminalFlag
from dunpai.risk.compromise.ports import ExposureRepository
from dunpai.risk.compromise.scenario import s4_demo_events
from dunpai.risk.compromise.visits import ArrayVisitHistory
from dunpai.risk.events.schemas import CardPresent, Label
from dunpai.risk.insider.scenario import StaffScenario, generate_s3_events

Row = tuple[dict[str, Any], str, bool]
DAY = 86400.0


def s3_events(seed: int = 7) -> tuple[list[Row], str]:
    month = generate_s3_events(StaffScenario(employees=40, branches=6, days=3, thief_start_day=1,
                                             thief_reports=0, seed=seed))
    rows: list[Row] = [(json.loads(e.model_dump_json(exclude_none=True)), "normal", False) for e in month.events]
    last = max(datetime.fromisoformat(r[0]["event_time"]) for r in rows)
    start = last.replace(hour=21, minute=30, second=0, microsecond=0) + timedelta(days=1)
    thief = "emp-s3-thief"
    for i in range(12):
        rows.append(({"type": "staff_access", "event_id": f"s3-{i:03d}",
                      "event_time": (start + timedelta(minutes=4 * i)).isoformat(), "employee_id": thief,
                      "branch_id": "branch-01", "customer_id": f"cust-9{i * 2000:07d}",
                      "customer_branch_id": "branch-05", "query_type": "credit_report", "records": 2000},
                     "S3", True))
    return rows, thief


@dataclass
class S4Run:
    events: list[Row]
    skimmed: list[str]
    job: CompromiseJob
    repo: ExposureRepository
    flags: list[TerminalFlag] = field(default_factory=list)
    next_run: float = 0.0

    def before(self, body: dict[str, Any]) -> None:
        """Run the job for every day boundary passed before this event (labels known by then)."""
        t = datetime.fromisoformat(body["event_time"]).timestamp()
        while self.next_run and t >= self.next_run:
            report = self.job.run(self.next_run)
            self.flags.extend(report.new_flags)
            self.next_run += DAY

    def after(self, body: dict[str, Any]) -> None:
        if body["type"] == "label":
            self.job.on_label(Label.model_validate(body))


def s4_run(repo: ExposureRepository, seed: int = 7) -> S4Run:
    events, truth = s4_demo_events(seed=seed, cards=150, terminals=50, days=90)
    history = ArrayVisitHistory.from_events(e for e in events if isinstance(e, CardPresent))
    rows: list[Row] = []
    confirmed: set[str] = set()  # cards with a confirmed fraud: the bank blocks and reissues them
    for e in events:
        body = json.loads(e.model_dump_json(exclude_none=True))
        fraud = isinstance(e, CardPresent) and e.pos_entry_mode == "90"  # the counterfeit cash-outs
        in_case = isinstance(e, Label) or (isinstance(e, CardPresent) and (
            e.terminal_id in truth.skimmed or e.card_id in confirmed))
        rows.append((body, "S4" if fraud or in_case else "normal", fraud))
        if isinstance(e, Label) and e.fraud and e.card_id:
            confirmed.add(e.card_id)
    first = min(datetime.fromisoformat(b["event_time"]).timestamp() for b, _, _ in rows)
    run = S4Run(rows, sorted(truth.skimmed), CompromiseJob(history, repo=repo), repo)
    run.next_run = (first // DAY + 1) * DAY
    return run
