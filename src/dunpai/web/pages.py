"""What each console page shows, gathered from the services (no HTTP here)."""

from __future__ import annotations

import time
from typing import Any

from dunpai.core.roles import Actor, require
from dunpai.risk.cases import dashboards
from dunpai.risk.cases import history as risk_history
from dunpai.risk.cases import repository as repo
from dunpai.risk.cases.incidents import Incidents
from dunpai.web import charts
from dunpai.web.i18n import pick, word

DASHBOARD_DAYS = 14


def case_view(incidents: Incidents, user: Actor, case_id: str, lang: str) -> dict[str, Any]:
    detail = incidents.cases.detail(user, case_id)
    events = incidents.cases.case_events(user, case_id)
    ents = [(e["kind"], e["key"]) for e in detail["entities"]]
    customer = next((k for kind, k in ents if kind == "customer"), None)
    targets = [f"account:{k}" for kind, k in ents if kind == "account"] + [
        f"card:{k}" for kind, k in ents if kind == "card"]
    alerted = {a["event_id"] for a in detail["alerts"]}
    rows = []
    for e in events:
        d = e.get("decision") or {}
        where = (e.get("terminal_location") or e.get("location") or {}).get("city", "")
        rows.append({"t": e["event_time"], "kind": e.get("type", ""), "what": e.get("txn") or e.get("kind")
                     or e.get("action") or e.get("query_type") or "", "where": where,
                     "who": e.get("terminal_id") or e.get("device_id") or e.get("payee_id") or e.get("employee_id")
                     or "", "amount": e.get("amount"), "action": d.get("action", ""),
                     "alerted": e["event_id"] in alerted, "event_id": e["event_id"]})
    for h in detail["timeline"]:
        rows.append({"t": h["at"], "kind": h["kind"], "what": _history_text(h, lang), "where": "", "who": h["actor"],
                     "amount": h.get("paid") or h.get("claimed"), "action": "", "alerted": False, "event_id": ""})
    rows.sort(key=lambda r: _sort_time(r["t"]))
    has_map = any(e.get("type") == "card_present" and e.get("terminal_location") for e in events)
    return {
        "detail": detail, "events": events, "customer_id": customer, "targets": targets, "timeline": rows,
        "map": charts.case_map(events, word("map", lang), lang) if has_map else None,
        "graph": charts.link_graph(events, ents, word("graph", lang), lang),
        "pending": [a for a in detail["actions"] if a["status"] == "pending"],
        "done": [a for a in detail["actions"] if a["status"] != "pending"],
    }


def _sort_time(t: Any) -> float:
    if isinstance(t, str):
        from datetime import datetime

        return datetime.fromisoformat(t).timestamp()
    return float(t)


def _history_text(h: dict[str, Any], lang: str) -> str:
    kind = h["kind"]
    if kind == "status":
        return f"{h['from']} → {h['to']}" + (f": {h['note']}" if h.get("note") else "")
    if kind == "alert":
        return f"{h.get('alert_kind', '')}: {pick(h.get('summary') or {}, lang)} ({h.get('score', '')})"
    if kind in ("action_requested", "action_approved", "action_rejected"):
        return f"{h['action']} {h.get('target_kind', '')} {h.get('target_id', '')}".strip()
    if kind == "note":
        return str(h["text"])[:200]
    if kind == "assigned":
        return str(h.get("assignee") or "-")
    if kind == "footage":
        return f"{h['camera_id']} {h['start'][11:16]}–{h['end'][11:16]} sha256 {h['sha256'][:12]}…"
    if kind.startswith("dispute"):
        return f"{h['dispute_id']} {h.get('rule_id', '')}".strip()
    if kind == "evidence":
        return f"+{h['added']}"
    return ""


def rules_view(incidents: Incidents, risk: Any, user: Actor) -> dict[str, Any]:
    require(user, "analyst", "supervisor")
    if risk is None:
        return {"available": False, "rules": [], "version": None}
    rows = risk.rulesets(user.tenant)
    published = next((r for r in rows if r.status == "published"), None)
    if published is None:
        return {"available": False, "rules": [], "version": None}
    compiled = risk.validate_ruleset(published.source)
    since = _since(incidents, user)
    with incidents.db.connect() as conn:
        records = risk_history.decision_records_txn(conn, user.tenant, since)
        labels = risk_history.label_events_txn(conn, user.tenant)
    figures = dashboards.rule_figures(records, labels)
    rules = []
    for c in compiled.rules:
        r = c.rule
        rules.append({"id": r.id, "description": r.description.model_dump(), "expression": r.expression,
                      "action": r.action, "score": r.score, "applies_to": list(r.applies_to),
                      "figures": figures.get(r.id)})
    return {"available": True, "rules": rules, "version": published.version, "decisions": len(records),
            "labels": len(labels)}


def _since(incidents: Incidents, user: Actor) -> float:
    with incidents.db.connect() as conn:
        latest = risk_history.latest_decision_time_txn(conn, user.tenant)
    return (latest or time.time()) - DASHBOARD_DAYS * 86400.0


def dashboard_view(incidents: Incidents, risk: Any, user: Actor, lang: str) -> dict[str, Any]:
    require(user, "analyst", "supervisor")
    since = _since(incidents, user)
    with incidents.db.connect() as conn:
        records = [r for r in risk_history.decision_records_txn(conn, user.tenant, since)
                   if r["event_type"] != "label"]
        labels = risk_history.label_events_txn(conn, user.tenant)
        alert_rows = repo.alert_volume_txn(conn, user.tenant)
    actions = dashboards.actions_over_time(records, hours=24)
    volume = dashboards.alert_volume(alert_rows, hours=24)
    hit = dashboards.rule_hit_rates(dashboards.rule_figures(records, labels))
    scores = dashboards.score_histogram(records)
    model = dashboards.model_histogram(records)
    return {
        "decisions": len(records),
        "figures": {
            "actions": charts.stacked_bars(actions["x"], actions["series"], word("actions_over_time", lang),
                                           charts.ACTION_COLOURS),
            "alerts": charts.stacked_bars(volume["x"], volume["series"], word("alert_volume", lang)),
            "rules": charts.bars(hit["x"], [round(100 * y, 3) for y in hit["y"]], word("rule_hit_rates", lang),
                                 "#00838f", y_title="%", horizontal=True,
                                 text=[f"{h}" for h in hit["hits"]]),
            "scores": charts.bars(scores["x"], scores["y"], word("score_dist", lang), "#6a1b9a",
                                  y_title=word("decisions", lang) + " (log)", log_y=True),
            **({"model": charts.bars(model["x"], model["y"], word("model_dist", lang), "#ef6c00",
                                     y_title=word("decisions", lang))} if model["n"] else {}),
        },
        "model_versions": model["versions"],
        "live_model": _live_model(risk, user.tenant),
    }


def _live_model(risk: Any, tenant: str) -> dict[str, str] | None:
    """The model deciding the tenant's live traffic now (a supervised model or the cold-start score)."""
    scorer = getattr(risk, "models", {}).get(tenant)
    if scorer is None:
        return None
    return {"version": str(scorer.version), "kind": str(getattr(scorer, "kind", "model"))}
