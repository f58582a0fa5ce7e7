"""The dashboards: the bank's transaction decisions over a chosen range of days (bank time, UTC+8).

Staff data accesses (every page view in this console is one) and labels are not transactions:
they are counted apart and never move the range, so analysts reading cases cannot push the
transactions out of view. Without a chosen range the page shows the 14 days up to the latest
transaction.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from dunpai.core.errors import FieldProblem, InvalidInput
from dunpai.core.roles import ANALYSTS, Actor, require
from dunpai.risk.cases import dashboards, log_queries
from dunpai.risk.cases import repository as repo
from dunpai.risk.cases.log_queries import NOT_TRANSACTIONS
from dunpai.risk.decisions.ladder import LADDER
from dunpai.web import charts
from dunpai.web.context import Console, Sess, bank_day, day_start, parse_day
from dunpai.web.i18n import text_of, word

DASHBOARD_DAYS = 14
MAX_DAYS = 3660  # ten years of daily bars at most
RECORDS = 200_000  # decisions drawn into the charts (the counts are exact whatever the range)


def dashboard_range(ui: Console, user: Actor, chosen_from: str | None, chosen_to: str | None) -> tuple[Any, Any]:
    """The (first, last) bank days to show: as chosen, else the 14 days up to the latest transaction."""
    first, last = parse_day(chosen_from, "from"), parse_day(chosen_to, "to")
    if last is None:
        with ui.incidents.db.connect() as conn:
            latest = log_queries.latest_decision_time_txn(conn, user.tenant, NOT_TRANSACTIONS)
        last = bank_day(latest if latest is not None else ui.clock())
    if first is None:
        first = last - timedelta(days=DASHBOARD_DAYS - 1)
    if first > last:
        raise InvalidInput("the range ends before it starts", problems=[FieldProblem("to", "on or after from")])
    if (last - first).days >= MAX_DAYS:
        raise InvalidInput("the range is too long", problems=[FieldProblem("from", f"at most {MAX_DAYS} days")])
    return first, last


def dashboard_view(ui: Console, user: Actor, lang: str, chosen_from: str | None = None,
                   chosen_to: str | None = None) -> dict[str, Any]:
    require(user, *ANALYSTS)
    first, last = dashboard_range(ui, user, chosen_from, chosen_to)
    since, until = day_start(first), day_start(last) + 86400.0
    with ui.incidents.db.connect() as conn:
        counts = log_queries.action_counts_txn(conn, user.tenant, since, until, NOT_TRANSACTIONS)
        records = log_queries.decision_records_txn(conn, user.tenant, since, RECORDS, until=until,
                                                    exclude_types=NOT_TRANSACTIONS)
        staff_accesses = log_queries.decision_count_txn(conn, user.tenant, "staff_access", since, until)
        labels = log_queries.label_events_txn(conn, user.tenant)
        alert_rows = [(t, s) for t, s in repo.alert_volume_txn(conn, user.tenant) if since <= t < until]
        opened = [c for c in repo.cases_txn(conn, user.tenant) if since <= c.opened_at < until]
    hours = 6 if (last - first).days < 3 else 24
    actions = dashboards.actions_over_time(records, hours=hours)
    volume = dashboards.alert_volume(alert_rows, hours=hours)
    hit = dashboards.rule_hit_rates(dashboards.rule_figures(records, labels))
    scores = dashboards.score_histogram(records)
    model = dashboards.model_histogram(records)
    total = sum(counts.values())
    return {
        "from": first.isoformat(), "to": last.isoformat(), "decisions": total,
        "by_action": [(a, counts.get(a, 0)) for a in LADDER], "charted": len(records), "alerts": len(alert_rows),
        "cases_opened": len(opened), "staff_accesses": staff_accesses,
        "figures": {
            "actions": charts.stacked_bars(actions["x"], actions["series"], word("actions_over_time", lang),
                                           charts.ACTION_COLOURS, {a: text_of("action", a, lang) for a in LADDER}),
            "alerts": charts.stacked_bars(volume["x"], volume["series"], word("alert_volume", lang),
                                          names={s: text_of("source", s, lang) for s in volume["series"]}),
            "rules": charts.bars(hit["x"], [round(100 * y, 3) for y in hit["y"]], word("rule_hit_rates", lang),
                                 "#00838f", y_title="%", horizontal=True, text=[f"{h}" for h in hit["hits"]]),
            "scores": charts.bars(scores["x"], scores["y"], word("score_dist", lang), "#6a1b9a",
                                  y_title=word("decisions", lang), log_y=True),
            **({"model": charts.bars(model["x"], model["y"], word("model_dist", lang), "#ef6c00",
                                     y_title=word("decisions", lang))} if model["n"] else {}),
        },
        "model_versions": model["versions"],
        "live_model": _live_model(ui.risk, user.tenant),
    }


def _live_model(risk: Any, tenant: str) -> dict[str, str] | None:
    """The model deciding the tenant's live traffic now (a supervised model or the cold-start score)."""
    scorer = getattr(risk, "models", {}).get(tenant)
    if scorer is None:
        return None
    return {"version": str(scorer.version), "kind": str(getattr(scorer, "kind", "model"))}


def install(app: FastAPI, ui: Console) -> None:
    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard(request: Request, session: Sess) -> HTMLResponse:
        q = request.query_params
        view = dashboard_view(ui, session.user, ui.lang_of(request), q.get("from"), q.get("to"))
        return ui.render(request, "dashboard.html", session=session, v=view)
