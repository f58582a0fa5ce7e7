"""`dunpai demo`: the source's cases replayed through the real service on the embedded default.

Every run starts clean (``dunpai.cli.demos.start_clean``): the demo directory, and the evidence
directory when it lies elsewhere, is emptied first.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from dunpai.cli.demos import start_clean
from dunpai.cli.demos.incidents import run_incident_demo
from dunpai.cli.render import ACTION_STYLE
from dunpai.core.config import Settings
from dunpai.risk.compromise.enricher import ExposureEnricher
from dunpai.risk.events.schemas import StaffAccess
from dunpai.risk.insider.actions import InsiderAction, insider_action
from dunpai.risk.runtime import open_service
from dunpai.risk.scenarios.insider_skimming import S4Run, s3_events, s4_run
from dunpai.risk.scenarios.source_cases import demo_events
from dunpai.risk.service import RiskService

MIN_NORMAL_ALLOWED = 0.97


def run_demo(settings: Settings, json_path: Path | None, customers: int, seed: int, console: Console,
             evidence_dir: Path | None = None) -> int:
    """Start clean, replay, print, write JSON. Exit status 0 when every fraud event was stopped and at
    least 97 % of normal events were allowed; 1 otherwise (the demo checks itself)."""
    start_clean(settings.data_dir, "--data-dir")
    if evidence_dir is not None and not evidence_dir.resolve().is_relative_to(settings.data_dir.resolve()):
        start_clean(evidence_dir, "--evidence-dir")
    service = open_service(settings)
    events = demo_events(seed, customers)
    staff, thief = s3_events(seed)
    exposures = next(e.repo for e in service.enrichers if isinstance(e, ExposureEnricher))
    skimming = s4_run(exposures, seed)
    rows: list[dict[str, Any]] = []
    actions: list[InsiderAction] = []
    try:
        with Progress(TextColumn("[bold]演示 demo"), BarColumn(), MofNCompleteColumn(), console=console,
                      transient=True) as progress:
            task = progress.add_task("demo", total=len(events) + len(staff) + len(skimming.events))
            for body, scenario, fraud in (*events, *staff):
                rows.append(_decide(service, body, scenario, fraud, actions))
                progress.advance(task)
            for body, scenario, fraud in skimming.events:
                skimming.before(body)
                rows.append(_decide(service, body, scenario, fraud, actions))
                skimming.after(body)
                progress.advance(task)
        _print(console, rows)
        _print_s3_s4(console, thief, actions, skimming)
        incidents_ok = True
        if evidence_dir is not None:
            flags = [f.to_alert() for f in skimming.flags]
            result = run_incident_demo(service, rows, evidence_dir, keystore=service.keys, console=console,
                                       terminal_flags=flags)
            incidents_ok = result.ok
        if service.audit is not None:
            service.audit.checkpoint()  # sign the chain's head so `dunpai audit verify` checks a signature
    finally:
        service.close()
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
        console.print(f"wrote {len(rows)} decisions to {json_path}")
    return 0 if _acceptable(rows, console) and incidents_ok else 1


def _decide(service: RiskService, body: dict[str, Any], scenario: str, fraud: bool,
            actions: list[InsiderAction]) -> dict[str, Any]:
    d = service.submit("default", body).decision
    if body["type"] == "staff_access":
        action = insider_action(StaffAccess.model_validate(body), d)
        if action is not None:
            actions.append(action)
    return {"event_id": d.event_id, "event_type": d.event_type, "event_time": d.event_time, "scenario": scenario,
            "fraud": fraud, "action": d.action, "score": d.score, "reasons": list(d.reasons),
            "customer_message": d.customer_message.to_dict(), "decision_id": d.decision_id}


def _print_s3_s4(console: Console, thief: str, actions: list[InsiderAction], skimming: S4Run) -> None:
    flagged = sorted({a.employee_id for a in actions})
    suspended = sorted({a.employee_id for a in actions if a.suspend})
    console.print(f"[bold]S3 内部人员 / insider[/bold]: flagged employees {flagged} "
                  f"(the thief is {thief}); query accounts suspended: {suspended}")
    table = Table("terminal", "flagged at", "score", "fraud cards / cards in window", "skimmed (truth)",
                  title="S4 被装侧录器的终端 / terminals flagged as skimmed")
    for f in skimming.flags:
        when = datetime.fromtimestamp(f.flagged_at, UTC).strftime("%Y-%m-%d")
        table.add_row(f.terminal_id, when, f"{f.score:.1f}", f"{f.fraud_cards} / {f.window_cards}",
                      "yes" if f.terminal_id in skimming.skimmed else "no")
    console.print(table)
    exposed = skimming.repo.exposed_cards()
    console.print(f"S4 exposed cards to monitor or reissue: {len(exposed)} "
                  f"({', '.join(sorted({e.card_id for e in exposed})[:12])}{' …' if len(exposed) > 12 else ''})")


def _print(console: Console, rows: list[dict[str, Any]]) -> None:
    table = Table("event", "case", "type", "action", "score", "客户说明 / customer explanation",
                  title="案例重放 / the source's cases", show_lines=True)
    for r in rows:
        if r["scenario"] not in ("S1", "S2") and not (r["scenario"] in ("S3", "S4") and r["fraud"]):
            continue
        style = ACTION_STYLE.get(r["action"], "white")
        table.add_row(r["event_id"], r["scenario"], r["event_type"], f"[{style}]{r['action']}[/{style}]",
                      str(r["score"]), f"{r['customer_message']['zh']}\n{r['customer_message']['en']}")
    Console(width=max(console.width, 150), force_terminal=console.is_terminal).print(table)
    normal = [r for r in rows if r["scenario"] == "normal"]
    counts = Counter(r["action"] for r in normal)
    summary = Table("action", "normal events", title=f"正常交易 / normal traffic ({len(normal)} events)")
    for action in ("allow", "verify", "delay", "restrict", "freeze"):
        summary.add_row(action, str(counts.get(action, 0)))
    console.print(summary)


def _acceptable(rows: list[dict[str, Any]], console: Console) -> bool:
    missed = [r["event_id"] for r in rows if r["fraud"] and r["action"] == "allow"]
    normal = [r for r in rows if r["scenario"] == "normal"]
    allowed = sum(r["action"] == "allow" for r in normal) / max(len(normal), 1)
    console.print(f"fraud events stopped: {sum(r['fraud'] for r in rows) - len(missed)}/{sum(r['fraud'] for r in rows)}"
                  f"; normal allowed: {allowed:.1%}")
    if missed:
        console.print(f"[red]fraud allowed:[/red] {', '.join(missed)}")
    return not missed and allowed >= MIN_NORMAL_ALLOWED
