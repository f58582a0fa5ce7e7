"""Profiles (a customer, account, card, device, terminal, payee or employee: history, devices,
linked cases, current restrictions) and a decision's explanation (every rule with the values it
saw, detector signals, the model's reasons, what the customer was told). Both show customer data:
every view is recorded as a staff data access."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from dunpai.core.errors import NotFound
from dunpai.core.ids import derived_id
from dunpai.risk.cases import log_queries
from dunpai.risk.cases import repository as repo
from dunpai.risk.cases.alerts import reason_text
from dunpai.risk.detectors import DEFAULT_DETECTORS
from dunpai.web.context import Console, Sess, parse_int
from dunpai.web.i18n import pick

PER_PAGE = 50
SIGNALS = {s.name: s for d in DEFAULT_DETECTORS for s in d.signals}


def event_summary(e: dict[str, Any]) -> dict[str, Any]:
    """What a history row shows of an event: what, where, with whom, how much."""
    where = (e.get("terminal_location") or e.get("location") or {}).get("city", "")
    what = e.get("txn") or e.get("kind") or e.get("action") or e.get("query_type") or ""
    return {"type": e.get("type", ""), "what": what, "where": where,
            "who": e.get("terminal_id") or e.get("device_id") or e.get("payee_id") or e.get("employee_id") or "",
            "amount": e.get("amount"), "card": e.get("card_masked")}


def install(app: FastAPI, ui: Console) -> None:
    @app.get("/profiles/{kind}/{key}", response_class=HTMLResponse)
    def profile(kind: str, key: str, request: Request, session: Sess) -> HTMLResponse:
        page = parse_int(request.query_params.get("page"), "page", 1) or 1
        p = ui.profiles.profile(session.user, kind, key, page, PER_PAGE)
        ui.record_view(session, "console.profile", p["customer_id"], records=len(p["history"]))
        for row in p["history"]:
            row["summary"] = event_summary(row["event"])
        return ui.render(request, "profile.html", session=session, p=p)

    @app.get("/decisions/{decision_id}", response_class=HTMLResponse)
    def decision(decision_id: str, request: Request, session: Sess) -> HTMLResponse:
        u = session.user
        if ui.risk is None:
            raise NotFound("no risk service behind this console")
        lang = ui.lang_of(request)
        explained = ui.risk.explain(u.tenant, decision_id)
        with ui.incidents.db.connect() as conn:
            eid = explained["event_id"]
            event = log_queries.events_by_id_txn(conn, u.tenant, [eid]).get(eid, {})
            case_id = repo.alert_exists_txn(conn, u.tenant, derived_id("alr", u.tenant, decision_id))
        ui.record_view(session, "console.decision", event.get("customer_id"), case_id)
        reasons = [{"code": r, "text": pick(reason_text(r), lang)} for r in explained["reasons"]]
        signals = [{"code": s, "text": pick(SIGNALS[s].text if s in SIGNALS else reason_text(s), lang)}
                   for s in explained["analyst"]["signals"]]
        contributions = sorted(explained["analyst"]["contributions"], key=lambda c: -abs(float(c["contribution"])))
        return ui.render(request, "decision.html", session=session, d=explained, event=event,
                         summary=event_summary(event) if event else None, case_id=case_id, reasons=reasons,
                         signals=signals, contributions=contributions[:12])
