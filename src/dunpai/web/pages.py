"""What the case page shows, gathered from the services (no HTTP here): one layout per case type.

* card fraud — the map of card-present uses (when there are any), the graph, the police report;
* account takeover — the devices and log-ins, the graph, the map when the app gave locations;
* skimmed terminal — the flag's statistical test and every card used at the terminal in the
  suspected window (to monitor or reissue), the ones later defrauded marked;
* insider — the employee's access pattern (by hour, per day, whom, why, what); no map, no police
  report (the security team takes it), no account measures on customers' accounts.

The timeline is paged; each event row links to its decision's explanation.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from dunpai.core.errors import FieldProblem, InvalidInput
from dunpai.core.roles import Actor
from dunpai.risk.cases import log_queries
from dunpai.risk.cases.incidents import Incidents
from dunpai.risk.cases.profiles import access_pattern, card_masks, devices
from dunpai.web import charts
from dunpai.web.i18n import pick, text_of, word

TIMELINE_PAGE = 50
TIMELINE_PAGE_SIZES = (10, 25, 50, 100, 200)
REPORT_TYPES = ("card_fraud", "takeover", "other")  # a police report makes sense for these
TERMINAL_USES = 5000


def case_view(incidents: Incidents, user: Actor, case_id: str, lang: str, page: int = 1,
              only_alerted: bool = False, per_page: int = TIMELINE_PAGE) -> dict[str, Any]:
    if per_page not in TIMELINE_PAGE_SIZES:
        raise InvalidInput("invalid page size", problems=[FieldProblem("per_page", f"one of {TIMELINE_PAGE_SIZES}")])
    detail = incidents.cases.detail(user, case_id)
    kind = incidents.cases.case_type(user, case_id)
    events = incidents.cases.case_events(user, case_id)
    ents = [(e["kind"], e["key"]) for e in detail["entities"]]
    customer = next((k for kind_, k in ents if kind_ == "customer"), None)
    targets = [f"account:{k}" for kind_, k in ents if kind_ == "account"] + [
        f"card:{k}" for kind_, k in ents if kind_ == "card"]
    if kind == "insider":
        targets = []  # the measure is on the employee's access account, not on customers' accounts
    rows = timeline(detail, events, lang)
    masks = card_masks(events)
    if only_alerted:
        rows = [r for r in rows if r["alerted"] or not r["event_id"]]
    pages = max(1, math.ceil(len(rows) / per_page))
    page = min(max(page, 1), pages)
    has_map = kind != "insider" and any(e.get("type") == "card_present" and e.get("terminal_location")
                                        for e in events)
    view: dict[str, Any] = {
        "detail": detail, "type": kind, "events": events, "customer_id": customer, "targets": targets,
        "timeline": rows[(page - 1) * per_page: page * per_page], "timeline_rows": len(rows),
        "page": page, "pages": pages, "only_alerted": only_alerted, "report": kind in REPORT_TYPES,
        "map": charts.case_map(events, word("map", lang), lang) if has_map else None,
        "graph": charts.link_graph(events, ents, word("graph", lang), lang) if kind != "skimming" else None,
        "pending": [a for a in detail["actions"] if a["status"] == "pending"],
        "done": [a for a in detail["actions"] if a["status"] != "pending"],
        "entities": [{"kind": k, "key": v, "label": masks.get(v, v) if k == "card" else v} for k, v in ents],
        "card_labels": masks,
        "devices": devices(events) if kind == "takeover" else [], "terminal": None, "access": None,
    }
    if kind == "skimming":
        view["terminal"] = terminal_view(incidents, user, detail)
        view["targets"] = [f"card:{c['card_id']}" for c in view["terminal"]["exposed"]]  # restrict or reissue
        view["card_labels"] = {c["card_id"]: c["masked"] for c in view["terminal"]["exposed"]}
    if kind == "insider":
        employee = next((k for kind_, k in ents if kind_ == "employee"), None)
        flagged = {a["event_id"] for a in detail["alerts"] if a.get("event_id")}
        accesses = [e for e in events if e.get("type") == "staff_access" and e.get("employee_id") == employee]
        view["access"] = access_pattern(accesses, flagged)
        view["access_figure"] = charts.bars([f"{h:02d}" for h in range(24)], view["access"]["by_hour"],
                                            word("by_hour", lang), "#6a1b9a", y_title=word("accesses", lang))
    return view


def terminal_view(incidents: Incidents, user: Actor, detail: dict[str, Any]) -> dict[str, Any]:
    """The flag behind a skimmed-terminal case and every card used at the terminal in its window."""
    terminal = detail["case"]["group"]["key"]
    flags = [a for a in detail["alerts"] if a["source"] == "compromise"]
    flag = flags[-1] if flags else {"detail": {}, "summary": {}}
    window = flag["detail"].get("window") or {}
    defrauded = set(flag["detail"].get("exposed_cards") or [])
    uses: list[dict[str, Any]] = []
    start, end = window.get("start"), window.get("end")
    if isinstance(start, int | float) and isinstance(end, int | float) and math.isfinite(start + end):
        with incidents.db.connect() as conn:
            uses = log_queries.related_events_txn(conn, user.tenant, "terminal_id", terminal, float(start),
                                                   float(end), TERMINAL_USES)
    masks = card_masks(uses)
    cards: dict[str, dict[str, Any]] = {}
    for e in uses:
        if e.get("card_id"):
            c = cards.setdefault(str(e["card_id"]), {"card_id": str(e["card_id"]), "uses": 0, "first": e["event_time"],
                                                     "customer_id": e.get("customer_id")})
            c["uses"] += 1
            c["last"] = e["event_time"]
    for card in defrauded - set(cards):
        cards[card] = {"card_id": card, "uses": 0, "first": None, "last": None, "customer_id": None}
    exposed = [{**c, "masked": masks.get(c["card_id"], c["card_id"]), "defrauded": c["card_id"] in defrauded}
               for c in cards.values()]
    exposed.sort(key=lambda c: (not c["defrauded"], c["card_id"]))
    location = next((e.get("terminal_location") for e in uses if e.get("terminal_location")), None)
    return {"terminal_id": terminal, "summary": flag.get("summary") or {}, "test": flag["detail"].get("test") or {},
            "window": window, "exposed": exposed, "location": location}


def timeline(detail: dict[str, Any], events: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """The case's events and its history in time order; event rows carry their decision's id."""
    alerted = {a["event_id"] for a in detail["alerts"]}
    rows = []
    for e in events:
        d = e.get("decision") or {}
        where = (e.get("terminal_location") or e.get("location") or {}).get("city", "")
        rows.append({"t": e["event_time"], "type": e.get("type", ""),
                     "what": e.get("txn") or e.get("kind") or e.get("action") or e.get("query_type") or "",
                     "where": where, "who": e.get("terminal_id") or e.get("device_id") or e.get("payee_id")
                     or e.get("employee_id") or "", "amount": e.get("amount"), "action": d.get("action", ""),
                     "decision_id": d.get("decision_id"), "alerted": e["event_id"] in alerted,
                     "event_id": e["event_id"]})
    for h in detail["timeline"]:
        rows.append({"t": h["at"], "type": "", "history": h["kind"], "what": _history_text(h, lang), "where": "",
                     "who": h["actor"], "amount": h.get("paid") or h.get("claimed"), "action": "",
                     "decision_id": None, "alerted": False, "event_id": ""})
    rows.sort(key=lambda r: _sort_time(r["t"]))
    return rows


def _sort_time(t: Any) -> float:
    try:
        return datetime.fromisoformat(t).timestamp() if isinstance(t, str) else float(t)
    except (ValueError, TypeError, OverflowError):
        return math.inf


def _history_text(h: dict[str, Any], lang: str) -> str:
    kind = h["kind"]
    if kind == "status":
        moved = f"{text_of('status', h['from'], lang)} → {text_of('status', h['to'], lang)}"
        return moved + (f": {h['note']}" if h.get("note") else "")
    if kind == "alert":
        return f"{pick(h.get('summary') or {}, lang)} ({h.get('score', '')})"
    if kind in ("action_requested", "action_approved", "action_rejected"):
        return (f"{text_of('measure', h['action'], lang)} {text_of('entity', h.get('target_kind', ''), lang)} "
                f"{h.get('target_id', '')}").strip()
    if kind == "note":
        return str(h["text"])[:200]
    if kind == "assigned":
        return str(h.get("assignee") or "-")
    if kind == "footage":
        return f"{h['camera_id']} {h['start'][11:16]}–{h['end'][11:16]} sha256 {h['sha256'][:12]}…"
    if kind.startswith("dispute"):
        return str(h.get("dispute_id", ""))
    if kind == "evidence":
        return f"+{h['added']}"
    if kind == "opened":
        group = h.get("group") or {}
        return f"{text_of('entity', group.get('kind', ''), lang)} {group.get('key', '')}".strip()
    return ""
