"""The incident-response part of ``dunpai demo`` (case S5 over S1–S4).

Given the risk service and the demo's decision rows, it opens the cases, investigates S1, freezes
the S1 account with two people (the requester's own approval is refused first), shows that the
engine now refuses the account's payments, records the ATM camera footage reference, confirms the
fraud (labels flow back), settles the S1 dispute 70/30 from the loss reserve, and writes one signed,
verified evidence bundle per case (with the police report in Chinese and English and the customer
notices) under ``evidence_dir``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from dunpai.audit import AuditLog, AuditPort
from dunpai.core.errors import Forbidden
from dunpai.keys import KeyStore
from dunpai.risk.cases.bundle import verify_bundle
from dunpai.risk.cases.common import Staff
from dunpai.risk.cases.incidents import Incidents
from dunpai.risk.cases.ledger import available
from dunpai.risk.cases.notices import yuan
from dunpai.risk.cases.signing import KeyStoreSigner

ANALYST = Staff("li.na", "analyst", employee_id="E1001", branch_id="NN01")
SUPERVISOR = Staff("wang.qiang", "supervisor", employee_id="E2001", branch_id="NN01")
TREASURER = Staff("zhao.min", "supervisor", employee_id="E3001", branch_id="HQ")
RESERVE_FUNDING = 500_000_00  # fen: the reserve the bank sets aside for the demo period


class DemoClock:
    """Event time for the demo's staff actions: starts after the last event, one minute a step."""

    def __init__(self, start: float) -> None:
        self.t = start

    def __call__(self) -> float:
        self.t += 60.0
        return self.t


@dataclass
class IncidentDemoResult:
    cases: dict[str, list[str]]
    s1_case: str | None = None
    frozen_account: str | None = None
    dual_control_refused: bool = False
    probe: dict[str, Any] | None = None
    assessment: dict[str, Any] | None = None
    paid: int = 0
    reserve_available: int = 0
    bundles: dict[str, Path] = field(default_factory=dict)
    verified: dict[str, bool] = field(default_factory=dict)
    reports: list[Path] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.s1_case is not None and self.dual_control_refused and bool(self.bundles)
                and all(self.verified.values()) and self.paid > 0)


def run_incident_demo(service: Any, decisions_rows: Sequence[Mapping[str, Any]], evidence_dir: Path, *,
                      tenant: str = "default", keystore: KeyStore | None = None,
                      audit: AuditPort | None = None, terminal_flags: Sequence[Mapping[str, Any]] = (),
                      console: Console | None = None) -> IncidentDemoResult:
    """``decisions_rows``: the demo's rows (``event_id``, ``scenario``, ``decision_id``, ``action``...).
    ``keystore`` signs the bundles and audit checkpoints (default: the service's own key store).
    ``terminal_flags``: the skimmer job's ``TerminalFlag.to_alert()`` dicts (S4)."""
    store: KeyStore = keystore or service.keys
    last = max((datetime.fromisoformat(r["event_time"]).timestamp() for r in decisions_rows
                if r.get("event_time")), default=0.0)
    clock = DemoClock(last + 600.0)
    inc = Incidents.for_risk(service, audit or AuditLog(service.db, store),
                             signer=KeyStoreSigner(store), clock=clock)
    result = IncidentDemoResult(cases={})
    # 1. Alerts -> cases.
    decisions = [service.decision(tenant, r["decision_id"]) for r in decisions_rows
                 if r.get("action") not in (None, "allow") and r.get("decision_id")]
    inc.cases.ingest_decisions(tenant, decisions)
    for flag in terminal_flags:
        result.cases.setdefault("S4", []).append(inc.cases.ingest_terminal_flag(tenant, dict(flag)))
    by_event = _cases_by_event(inc, tenant)
    for r in decisions_rows:
        scenario = r.get("scenario", "normal")
        found = by_event.get(r["event_id"])
        if scenario != "normal" and found and found not in result.cases.setdefault(scenario, []):
            result.cases[scenario].append(found)
    s1 = result.cases.get("S1", [])
    if s1:
        _s1_story(inc, service, tenant, s1[0], decisions_rows, result)
    # 2. One signed bundle per case of the source's scenarios, verified straight away.
    evidence_dir.mkdir(parents=True, exist_ok=True)
    for scenario, ids in sorted(result.cases.items()):
        for case_id in ids:
            out = evidence_dir / case_id
            if out.exists() and any(out.iterdir()):
                continue
            inc.export_evidence(Staff(ANALYST.name, ANALYST.role, tenant), case_id, out)
            result.bundles[case_id] = out
            result.verified[case_id] = verify_bundle(out, store.public_key(inc.signer.key_id)
                                                     if inc.signer else None).ok
            if scenario == "S1":
                result.reports += [out / "extra" / "police-report.zh.pdf", out / "extra" / "police-report.en.pdf"]
    if console is not None:
        print_summary(console, result)
    if keystore is None:
        store.close()
    return result


def _cases_by_event(inc: Incidents, tenant: str) -> dict[str, str]:
    from sqlalchemy import select

    from dunpai.risk.cases.tables import alerts

    with inc.db.connect() as conn:
        rows = conn.execute(select(alerts.c.case_id, alerts.c.body).where(alerts.c.tenant == tenant))
        return {json.loads(body)["event_id"]: case_id for case_id, body in rows if json.loads(body).get("event_id")}


def _s1_story(inc: Incidents, service: Any, tenant: str, case_id: str, rows: Sequence[Mapping[str, Any]],
              result: IncidentDemoResult) -> None:
    analyst = Staff(ANALYST.name, ANALYST.role, tenant, ANALYST.employee_id, ANALYST.branch_id)
    supervisor = Staff(SUPERVISOR.name, SUPERVISOR.role, tenant, SUPERVISOR.employee_id, SUPERVISOR.branch_id)
    treasurer = Staff(TREASURER.name, TREASURER.role, tenant)
    result.s1_case = case_id
    inc.cases.assign(analyst, case_id, analyst.name)
    inc.cases.transition(analyst, case_id, "investigating")
    detail = inc.cases.detail(analyst, case_id)
    inc.cases.record_view(analyst, "demo.case", _entity(detail, "customer"), case_id,
                          employee_id=analyst.employee_id, branch_id=analyst.branch_id)
    account = _entity(detail, "account")
    customer = _entity(detail, "customer")
    fraud_rows = [r for r in rows if r.get("scenario") == "S1" and r.get("fraud")]
    bodies = {e["event_id"]: e for e in inc.cases.case_events(analyst, case_id)}
    fraud_events = [bodies[r["event_id"]] for r in fraud_rows if r["event_id"] in bodies]
    # Freeze, dual control: the supervisor's own request cannot be approved by themself.
    own = inc.actions.request(supervisor, target_kind="account", target_id=account or "", action="freeze",
                              legal_basis="anti_telecom_fraud_art18", reason="伪卡取现 counterfeit-card withdrawals",
                              case_id=case_id, customer_id=customer)
    try:
        inc.actions.approve(supervisor, own.action_id)
    except Forbidden:
        result.dual_control_refused = True
    inc.actions.reject(treasurer, own.action_id, "duplicate of the analyst's request")
    req = inc.actions.request(analyst, target_kind="account", target_id=account or "", action="freeze",
                              legal_basis="anti_telecom_fraud_art18",
                              reason="宾阳 ATM 伪卡磁条取现，客户手机在南宁 / counterfeit stripe withdrawals in "
                                     "Binyang while the customer's phone was in Nanning",
                              case_id=case_id, customer_id=customer)
    inc.actions.approve(supervisor, req.action_id, reason_kind="counterfeit")
    result.frozen_account = account
    if getattr(service, "accounts", None) is not None and fraud_events:
        result.probe = _probe(service, tenant, fraud_events[-1])
    # Camera footage of the ATM, as the bank's video system reports it (a reference and its hash).
    if fraud_events:
        first = fraud_events[0]
        start = datetime.fromisoformat(first["event_time"]) - timedelta(minutes=5)
        end = datetime.fromisoformat(fraud_events[-1]["event_time"]) + timedelta(minutes=5)
        terminal = first.get("terminal_id", "atm")
        uri = f"cctv://{terminal}/{start:%Y%m%dT%H%M}-{end:%H%M}.mp4"
        inc.cases.add_footage_ref(analyst, case_id, camera_id=f"cam-{terminal}", terminal_id=terminal,
                                  start=start.isoformat(), end=end.isoformat(), uri=uri,
                                  sha256=hashlib.sha256(f"demo stand-in clip {uri}".encode()).hexdigest())
    inc.cases.add_note(analyst, case_id, "客户致电确认卡在本人身上，未在宾阳取款；已报警。"
                                         "The customer confirms the card is in their pocket; police informed.")
    inc.cases.transition(analyst, case_id, "confirmed_fraud", "伪卡盗刷，确认 / counterfeit-card fraud confirmed")
    # The claim: the withdrawals of the source's case, with the court's findings as the facts.
    loss = sum(int(e.get("amount", 0)) for e in fraud_events)
    if loss > 0 and account and customer:
        inc.disputes.fund_reserve(treasurer, RESERVE_FUNDING, "fraud loss reserve, demo period")
        d = inc.disputes.open(analyst, case_id=case_id, customer_id=customer, account_id=account, claimed=loss,
                              statement="卡在本人身上，宾阳取款非本人所为 / the card never left me",
                              facts={"counterfeit_card": True, "card_present": True, "bank_detected": False,
                                     "pin_negligence": True})
        d = inc.disputes.assess(analyst, d["dispute_id"])
        d = inc.disputes.settle(supervisor, d["dispute_id"])
        result.assessment = d["assessment"]
        result.paid = int(d["paid"])
        result.reserve_available = available(inc.disputes.ledger(analyst)["balances"])
    result.notices = inc.notices(analyst, case_id)


def _probe(service: Any, tenant: str, last: Mapping[str, Any]) -> dict[str, Any]:
    """The fraudster tries once more after the freeze: the engine must refuse it at once."""
    when = datetime.fromisoformat(last["event_time"]) + timedelta(minutes=20)
    body = {k: v for k, v in last.items() if k not in ("decision", "card_masked", "atc")}
    body.update(event_id=f"{last['event_id']}-after-freeze", event_time=when.isoformat(), amount=100_00)
    d = service.submit(tenant, body).decision
    return {"event_id": d.event_id, "action": d.action, "reasons": list(d.reasons),
            "customer_message": d.customer_message.to_dict()}


def _entity(detail: Mapping[str, Any], kind: str) -> str | None:
    return next((str(e["key"]) for e in detail["entities"] if e["kind"] == kind), None)


def print_summary(console: Console, r: IncidentDemoResult) -> None:
    table = Table("case", "scenario", "evidence bundle", "verified", title="案件与证据 / cases and evidence (S5)")
    for scenario, ids in sorted(r.cases.items()):
        for case_id in ids:
            table.add_row(case_id, scenario, str(r.bundles.get(case_id, "")),
                          "[green]intact[/green]" if r.verified.get(case_id) else "[red]no[/red]")
    console.print(table)
    if r.s1_case:
        console.print(f"S1: account {r.frozen_account} frozen with two approvers "
                      f"(self-approval refused: {r.dual_control_refused})")
        if r.probe:
            console.print(f"S1: a payment after the freeze -> {r.probe['action']} {r.probe['reasons'][:1]}")
        if r.assessment:
            a = r.assessment
            console.print(f"S1: liability {a['bank_share_bp'] / 100:g}% bank / {100 - a['bank_share_bp'] / 100:g}% "
                          f"customer of CNY {yuan(a['loss'])}: paid CNY {yuan(r.paid)} from the reserve "
                          f"(available now CNY {yuan(r.reserve_available)})")
        for n in r.notices:
            console.print(f"notice \\[{n['kind']}] {n['sms']['zh']}\n              {n['sms']['en']}")
        for p in r.reports:
            console.print(f"police report: {p}")
