"""The alert queue: search, filters (status, type, priority, assignee, money at risk, date opened),
sort, paging and saved views. Every filter is a query parameter, so a view is a link: saving one
stores its query string for the analyst."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, Response

from dunpai.risk.cases.model import OPEN_STATUSES, STATUSES
from dunpai.risk.cases.queue import CASE_TYPES, PAGE_SIZES, SORTS, QueueFilter
from dunpai.web import staff
from dunpai.web.context import Console, Sess, day_start, parse_day, parse_int, parse_yuan

FILTER_KEYS = ("q", "status", "type", "priority_min", "assignee", "amount_min", "amount_max", "from", "to",
               "sort", "dir", "per_page")


def parse_filter(params: dict[str, str], user: staff.StaffUser) -> QueueFilter:
    """The queue's query parameters as a filter; a bad value is an error naming its parameter."""
    status = params.get("status") or "open"
    statuses = OPEN_STATUSES if status == "open" else () if status == "all" else (status,)
    kind = params.get("type") or ""
    assignee_param = params.get("assignee") or "any"
    assignee = {"any": None, "me": user.username, "none": ""}.get(assignee_param, assignee_param)
    opened_from = parse_day(params.get("from"), "from")
    opened_to = parse_day(params.get("to"), "to")
    return QueueFilter(
        text=params.get("q", "").strip(), statuses=statuses, types=(kind,) if kind else (),
        priority_min=parse_int(params.get("priority_min"), "priority_min", 0, 100), assignee=assignee,
        amount_min=parse_yuan(params.get("amount_min"), "amount_min"),
        amount_max=parse_yuan(params.get("amount_max"), "amount_max"),
        opened_from=day_start(opened_from) if opened_from else None,
        opened_to=day_start(opened_to) + 86400.0 if opened_to else None,
        sort=params.get("sort") or "queue", descending=(params.get("dir") or "desc") != "asc",
        page=parse_int(params.get("page"), "page", 1) or 1,
        per_page=parse_int(params.get("per_page"), "per_page", 1) or 25)


def view_query(params: dict[str, str]) -> str:
    """The part of a query string worth saving (the filters; not the page or the language)."""
    return urlencode([(k, params[k]) for k in FILTER_KEYS if params.get(k)])


def install(app: FastAPI, ui: Console) -> None:
    cases = ui.incidents.cases

    @app.get("/queue", response_class=HTMLResponse)
    def queue(request: Request, session: Sess) -> HTMLResponse:
        u = session.user
        params = dict(request.query_params)
        found = cases.search(u, parse_filter(params, u))
        cases.record_view(u, "console.queue", None)
        return ui.render(request, "queue.html", session=session, page=found, cases=found.cases, now=ui.clock(),
                         pending=ui.incidents.actions.pending(u), views=cases.views(u), saved=view_query(params),
                         statuses=STATUSES, case_types=CASE_TYPES, sorts=SORTS, page_sizes=PAGE_SIZES)

    @app.post("/queue/next")
    def take_next(request: Request, session: Sess, csrf: Annotated[str, Form()]) -> Response:
        ui.check_csrf(session, csrf)
        case = cases.next_for(session.user)
        return ui.back(request, f"/cases/{case.case_id}" if case else "/queue")

    @app.post("/queue/views")
    def save_view(request: Request, session: Sess, csrf: Annotated[str, Form()],
                  name: Annotated[str, Form(max_length=64)],
                  query: Annotated[str, Form(max_length=2000)] = "") -> Response:
        ui.check_csrf(session, csrf)
        kept = urlencode([(k, v) for k, v in parse_qsl(query) if k in FILTER_KEYS])
        cases.save_view(session.user, name, kept)
        return ui.back(request, "/queue" + (f"?{kept}" if kept else ""))

    @app.post("/queue/views/delete")
    def delete_view(request: Request, session: Sess, csrf: Annotated[str, Form()],
                    name: Annotated[str, Form(max_length=64)]) -> Response:
        ui.check_csrf(session, csrf)
        cases.delete_view(session.user, name)
        return ui.back(request, "/queue")
