"""The rules: the published ruleset with each rule's record on the bank's decisions, and the rule
editor — draft one CEL rule (checked as it is typed), backtest it on the tenant's history from the
page (hits, precision, alerts per day, the difference from the published ruleset), and submit it;
a second person (a supervisor who is not the submitter) publishes it, and the next decision uses
it. Submissions, publications and rejections are audited (``RuleChangeService``)."""

from __future__ import annotations

import json
import threading
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from dunpai.core.errors import FieldProblem, InvalidInput, StateError
from dunpai.core.roles import ANALYSTS, Actor, require
from dunpai.risk.cases import dashboards, log_queries
from dunpai.risk.cases.rule_changes import RuleChangeService, published, validate_draft
from dunpai.web.context import Console, Sess, parse_day

EVENT_TYPES = ("card_present", "card_not_present", "mobile_transfer", "login", "device", "staff_access")
ACTIONS = ("verify", "delay", "restrict", "freeze", "allow")
RECENT_DAYS = 14
MAX_VALIDATE_BODY = 16 * 1024
_backtests = threading.Lock()  # one backtest at a time: each brings the history store up to date


def rule_from(values: dict[str, Any]) -> dict[str, Any]:
    """The editor's fields (form or JSON) as a rule. The score stays text when it is no number, so
    that validation names it."""
    score: Any = str(values.get("score", "")).strip()
    if score.lstrip("-").isdigit():
        score = int(score)
    applies = values.get("applies_to") or []
    return {
        "id": str(values.get("id", "")).strip(),
        "description": {"zh": str(values.get("description_zh", "")).strip(),
                        "en": str(values.get("description_en", "")).strip()},
        "expression": str(values.get("expression", "")).strip(),
        "action": str(values.get("action", "")).strip(), "score": score,
        "reason": str(values.get("reason", "")).strip(),
        "applies_to": [a for a in ([applies] if isinstance(applies, str) else applies) if a],
        "customer_message": {"zh": str(values.get("message_zh", "")).strip(),
                             "en": str(values.get("message_en", "")).strip()},
    }


def fields_of(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule as the editor's fields."""
    return {"id": rule.get("id", ""), "description_zh": (rule.get("description") or {}).get("zh", ""),
            "description_en": (rule.get("description") or {}).get("en", ""),
            "expression": rule.get("expression", ""), "action": rule.get("action", "verify"),
            "score": rule.get("score", 50), "reason": rule.get("reason", ""),
            "applies_to": list(rule.get("applies_to") or []),
            "message_zh": (rule.get("customer_message") or {}).get("zh", ""),
            "message_en": (rule.get("customer_message") or {}).get("en", "")}


def backtest(ui: Console, user: Actor, rule: dict[str, Any], start: date | None, end: date | None) -> dict[str, Any]:
    """The draft (published ruleset plus ``rule``) replayed on the tenant's history beside the
    published ruleset: the lead's ``backtest_tenant``, the same code as ``dunpai backtest``."""
    from dunpai.risk.history.training import backtest_tenant

    if getattr(ui.risk, "data_dir", None) is None:
        raise StateError("backtests need the service's data directory (its history store)")
    source, problems = validate_draft(ui.risk, user.tenant, rule)
    if problems:
        raise InvalidInput("the drafted rule does not validate", problems=problems)
    registry = (ui.model_registry or Path(ui.risk.data_dir) / "models") / user.tenant
    with _backtests:
        out: dict[str, Any] = backtest_tenant(ui.risk, user.tenant, source, start, end, registry, ui.alert_budget,
                                              None)
    return out


def backtest_summary(out: dict[str, Any], rule_id: str) -> dict[str, Any]:
    """What is kept with a submitted change for its approver to read."""
    rules = out["rules"]
    mine = next((r for r in rules["rules"] if r["rule_id"] == rule_id), None)
    return {"from": out.get("from"), "to": out.get("to"), "payments": rules["payments"], "frauds": rules["frauds"],
            "draft": rules["draft"], "published": rules["published"], "difference": rules["difference"],
            "rule": mine}


def rules_view(ui: Console, user: Actor) -> dict[str, Any]:
    require(user, *ANALYSTS)
    if ui.risk is None:
        return {"available": False, "rules": [], "version": None, "changes": []}
    row = published(ui.risk, user.tenant)
    compiled = ui.risk.validate_ruleset(row.source)
    with ui.incidents.db.connect() as conn:
        latest = log_queries.latest_decision_time_txn(conn, user.tenant, ("label",))
        since = (latest if latest is not None else ui.clock()) - RECENT_DAYS * 86400.0
        records = log_queries.decision_records_txn(conn, user.tenant, since, exclude_types=("label",))
        labels = log_queries.label_events_txn(conn, user.tenant)
    figures = dashboards.rule_figures(records, labels)
    rules = [{"id": c.rule.id, "description": c.rule.description.model_dump(), "expression": c.rule.expression,
              "action": c.rule.action, "score": c.rule.score, "applies_to": list(c.rule.applies_to),
              "figures": figures.get(c.rule.id)} for c in compiled.rules]
    changes = ui.rule_changes.changes(user) if ui.rule_changes is not None else []
    return {"available": True, "rules": rules, "version": row.version, "decisions": len(records),
            "labels": len(labels), "changes": changes}


def install(app: FastAPI, ui: Console) -> None:
    def changes() -> RuleChangeService:
        if ui.rule_changes is None:
            raise StateError("no risk service behind this console")
        return ui.rule_changes

    def editor(request: Request, session: Sess, fields: dict[str, Any], result: dict[str, Any] | None = None,
               problems: list[FieldProblem] | None = None, status: int = 200) -> HTMLResponse:
        return ui.render(request, "rule_editor.html", status, session, f=fields, result=result,
                         problems=problems or [], event_types=EVENT_TYPES, actions=ACTIONS,
                         variables=sorted(getattr(ui.risk, "known", ())))

    @app.get("/rules", response_class=HTMLResponse)
    def rules(request: Request, session: Sess) -> HTMLResponse:
        return ui.render(request, "rules.html", session=session, v=rules_view(ui, session.user),
                         submitted=request.query_params.get("submitted"))

    @app.get("/rules/editor", response_class=HTMLResponse)
    def rule_editor(request: Request, session: Sess) -> HTMLResponse:
        require(session.user, *ANALYSTS)
        wanted = request.query_params.get("rule")
        fields = fields_of({"action": "verify", "score": 50, "applies_to": []})
        if wanted and ui.risk is not None:
            compiled = ui.risk.validate_ruleset(published(ui.risk, session.user.tenant).source)
            found = compiled.by_id.get(wanted)
            if found is not None:
                fields = fields_of(found.rule.model_dump())
        return editor(request, session, fields)

    @app.post("/rules/validate")
    async def validate(request: Request, session: Sess) -> JSONResponse:
        """The editor's check as the analyst types: {ok, problems: [{field, problem}]} (JSON)."""
        ui.check_csrf(session, request.headers.get("x-csrf-token", ""))
        require(session.user, *ANALYSTS)
        body = await request.body()
        if len(body) > MAX_VALIDATE_BODY:
            raise InvalidInput("request body too large", problems=[FieldProblem("$", "too large")])
        try:
            values = json.loads(body or b"{}")
        except ValueError:
            raise InvalidInput("the body is not JSON", problems=[FieldProblem("$", "JSON")]) from None
        if not isinstance(values, dict) or ui.risk is None:
            raise InvalidInput("the body is a JSON object of the editor's fields", problems=[FieldProblem("$",
                                                                                                      "object")])
        _, problems = validate_draft(ui.risk, session.user.tenant, rule_from(values))
        return JSONResponse({"ok": not problems, "problems": [{"field": p.field, "problem": p.problem}
                                                              for p in problems]})

    @app.post("/rules/editor", response_class=HTMLResponse)
    async def run_editor(request: Request, session: Sess) -> Response:
        form = await request.form()
        ui.check_csrf(session, str(form.get("csrf", "")))
        require(session.user, *ANALYSTS)
        values: dict[str, Any] = {k: str(form.get(k, ""))[:4000] for k in (
            "id", "description_zh", "description_en", "expression", "action", "score", "reason", "message_zh",
            "message_en", "from", "to")}
        values["applies_to"] = [str(v)[:32] for v in form.getlist("applies_to")][:8]
        rule = rule_from(values)
        fields = {**fields_of(rule), "from": values["from"], "to": values["to"]}
        _, problems = validate_draft(ui.risk, session.user.tenant, rule)
        if problems:
            return editor(request, session, fields, problems=problems, status=422)
        start, end = parse_day(values["from"], "from"), parse_day(values["to"], "to")
        if start and end and start > end:
            raise InvalidInput("the range ends before it starts", problems=[FieldProblem("to", "on or after from")])
        out = backtest(ui, session.user, rule, start, end)
        if form.get("op") == "submit":
            change = changes().submit(session.user, rule, backtest_summary(out, rule["id"]))
            return ui.back(request, f"/rules?submitted={change['change_id']}#changes")
        return editor(request, session, fields, result={**backtest_summary(out, rule["id"]),
                                                        "rules": out["rules"]["rules"]})

    @app.post("/rules/changes/{change_id}/approve")
    def approve(change_id: str, request: Request, session: Sess, csrf: Annotated[str, Form()]) -> Response:
        ui.check_csrf(session, csrf)
        changes().approve(session.user, change_id)
        return ui.back(request, "/rules#changes")

    @app.post("/rules/changes/{change_id}/reject")
    def reject(change_id: str, request: Request, session: Sess, csrf: Annotated[str, Form()],
               note: Annotated[str, Form(max_length=2000)] = "") -> Response:
        ui.check_csrf(session, csrf)
        changes().reject(session.user, change_id, note)
        return ui.back(request, "/rules#changes")

