"""The analyst console: server-rendered pages in Chinese and English over the incident services.

Mount it on the API app (``app.mount("/console", create_console(incidents, risk))``) or serve it
alone. Sign-in is by console staff user (Argon2id password, see ``staff.py``); every form carries
the session's CSRF token; every page that shows customer data is audited and sent to the risk
engine as a staff data-access event (so the insider detector watches analysts too). Charts are drawn
by the ``plotly.min.js`` inside the installed ``plotly`` package, served from here: no CDN.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import plotly
from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from dunpai.api.errors import STATUS
from dunpai.core.errors import DunpaiError, NotFound, Unauthenticated
from dunpai.risk.cases.controls import LEGAL_BASES
from dunpai.risk.cases.incidents import Incidents
from dunpai.risk.cases.model import TRANSITIONS
from dunpai.web import dashboard_page, pages, profile_page, queue_page, rules_page, staff
from dunpai.web.context import Console, parse_int
from dunpai.web.signin import install_signin
from dunpai.web.throttle import ThrottlePolicy

HERE = Path(__file__).resolve().parent
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
COOKIE = "dunpai_console"
LANG_COOKIE = "dunpai_lang"
CST = timezone(timedelta(hours=8))
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


class _SignIn(Exception):
    """No valid session: send the browser to the sign-in page."""


def _when(t: Any) -> str:
    """A stored time as China Standard Time; a value that is no time (``inf``, 1e300, text) shows
    as "?" rather than failing the page: the console never fails on a stored value."""
    if t is None or t == "":
        return ""
    try:
        if isinstance(t, str):
            return datetime.fromisoformat(t).astimezone(CST).strftime("%m-%d %H:%M")
        return datetime.fromtimestamp(float(t), CST).strftime("%m-%d %H:%M")
    except (ValueError, OverflowError, OSError, TypeError):
        return "?"


def _yuan(minor: Any) -> str:
    if minor is None:
        return ""
    try:
        return f"¥{int(minor) / 100:,.2f}"
    except (ValueError, OverflowError, TypeError):
        return "?"


def current_session(request: Request) -> staff.Session:
    """The signed-in staff member, or a redirect to the sign-in page."""
    token = request.cookies.get(COOKIE)
    found = staff.session(request.app.state.db, token, request.app.state.clock()) if token else None
    if found is None:
        raise _SignIn()
    return found


Sess = Annotated[staff.Session, Depends(current_session)]


def create_console(incidents: Incidents, risk: Any = None, *, secure_cookies: bool = True,
                   clock: Callable[[], float] = time.time, model_registry: Path | None = None,
                   alert_budget: float = 0.005, signin_policy: ThrottlePolicy | None = None) -> FastAPI:
    """``risk`` (a ``RiskService``) provides the rulesets and decision history for the rule list,
    the rule editor and dashboards; without it those pages say so. ``model_registry`` and
    ``alert_budget``: see ``context.Console``."""
    app = FastAPI(title="Dunpai console", docs_url=None, redoc_url=None, openapi_url=None)
    ui = Console(incidents, risk, secure_cookies=secure_cookies, clock=clock, model_registry=model_registry,
                 alert_budget=alert_budget, filters={"when": _when, "yuan": _yuan})
    db = incidents.db
    app.state.db = db
    app.state.clock = clock
    app.state.current_session = current_session  # the page modules' ``context.Sess``
    lang_of, render, check_csrf, back = ui.lang_of, ui.render, ui.check_csrf, ui.back

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(_SignIn)
    async def _to_signin(request: Request, _exc: _SignIn) -> Response:
        nxt = quote(request.url.path.removeprefix(request.scope.get("root_path", "")) or "/queue")
        return back(request, f"/signin?next={nxt}")

    @app.exception_handler(DunpaiError)
    async def _error(request: Request, exc: DunpaiError) -> Response:
        if isinstance(exc, Unauthenticated):
            return back(request, "/signin")
        token = request.cookies.get(COOKIE)
        session = staff.session(db, token, clock()) if token else None
        return render(request, "error.html", STATUS.get(exc.code, 500), session, error=exc)

    # -- static --------------------------------------------------------------------------------

    @app.get("/static/plotly.min.js")
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/static/{name}")
    def static(name: str) -> FileResponse:
        if name not in ("console.css", "console.js"):
            raise _not_found()
        media = "text/css" if name.endswith(".css") else "text/javascript"
        return FileResponse(HERE / "static" / name, media_type=media)

    # -- sign-in -------------------------------------------------------------------------------

    # CSRF token before a session exists, throttling per user and client, lock-out audited and alerted
    install_signin(app, ui, incidents, session_cookie=COOKIE, secure_cookies=secure_cookies, clock=clock,
                   policy=signin_policy)

    @app.post("/signout")
    def signout(request: Request, session: Sess, csrf: Annotated[str, Form()]) -> Response:
        check_csrf(session, csrf)
        staff.close_session(db, request.cookies.get(COOKIE, ""))
        incidents.audit.append(session.user.username, "console.signout", f"{session.user.tenant}/console", {})
        resp = back(request, "/signin")
        resp.delete_cookie(COOKIE, path="/")
        return resp

    # -- pages ---------------------------------------------------------------------------------

    @app.get("/")
    def home(request: Request) -> Response:
        return back(request, "/queue")

    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    def case_page(case_id: str, request: Request, session: Sess) -> HTMLResponse:
        u = session.user
        lang = lang_of(request)
        page = parse_int(request.query_params.get("page"), "page", 1) or 1
        per_page = parse_int(request.query_params.get("per_page"), "per_page", 1) or pages.TIMELINE_PAGE
        view = pages.case_view(incidents, u, case_id, lang, page, request.query_params.get("only") == "alerted",
                               per_page)
        incidents.cases.record_view(u, "console.case", view["customer_id"], case_id, employee_id=u.employee_id,
                                    branch_id=u.branch_id, records=max(1, len(view["events"])))
        return render(request, "case.html", session=session, v=view, transitions=sorted(
            TRANSITIONS[view["detail"]["case"]["status"]]), legal_bases=LEGAL_BASES)

    @app.post("/cases/{case_id}/transition")
    def transition(case_id: str, request: Request, session: Sess, csrf: Annotated[str, Form()],
                   to: Annotated[str, Form()], note: Annotated[str, Form(max_length=10_000)] = "") -> Response:
        check_csrf(session, csrf)
        incidents.cases.transition(session.user, case_id, to, note or None)
        return back(request, f"/cases/{case_id}")

    @app.post("/cases/{case_id}/assign")
    def assign(case_id: str, request: Request, session: Sess, csrf: Annotated[str, Form()]) -> Response:
        check_csrf(session, csrf)
        incidents.cases.assign(session.user, case_id, session.user.username)
        return back(request, f"/cases/{case_id}")

    @app.post("/cases/{case_id}/note")
    def note(case_id: str, request: Request, session: Sess, csrf: Annotated[str, Form()],
             text: Annotated[str, Form(max_length=10_000)]) -> Response:
        check_csrf(session, csrf)
        incidents.cases.add_note(session.user, case_id, text)
        return back(request, f"/cases/{case_id}#notes")

    @app.post("/cases/{case_id}/evidence")
    def collect(case_id: str, request: Request, session: Sess, csrf: Annotated[str, Form()]) -> Response:
        check_csrf(session, csrf)
        incidents.cases.collect_evidence(session.user, case_id)
        return back(request, f"/cases/{case_id}#evidence")

    @app.post("/cases/{case_id}/actions")
    def request_action(case_id: str, request: Request, session: Sess, csrf: Annotated[str, Form()],
                       target: Annotated[str, Form(max_length=140)], action: Annotated[str, Form(max_length=16)],
                       legal_basis: Annotated[str, Form(max_length=64)],
                       reason: Annotated[str, Form(max_length=2000)]) -> Response:
        check_csrf(session, csrf)
        kind, _, target_id = target.partition(":")
        detail = incidents.cases.detail(session.user, case_id)
        customer = next((e["key"] for e in detail["entities"] if e["kind"] == "customer"), None)
        incidents.actions.request(session.user, target_kind=kind, target_id=target_id, action=action,
                                  legal_basis=legal_basis, reason=reason, case_id=case_id, customer_id=customer)
        return back(request, f"/cases/{case_id}#actions")

    @app.post("/actions/{action_id}/approve")
    def approve(action_id: str, request: Request, session: Sess, csrf: Annotated[str, Form()],
                next_: Annotated[str, Form(alias="next", max_length=200)] = "/actions") -> Response:
        check_csrf(session, csrf)
        req = incidents.actions.get(session.user, action_id)
        reason_kind = "counterfeit" if _counterfeit(incidents, session.user, req.case_id) else "account"
        incidents.actions.approve(session.user, action_id, reason_kind=reason_kind)
        return back(request, next_ if next_.startswith("/") and not next_.startswith("//") else "/actions")

    @app.post("/actions/{action_id}/reject")
    def reject(action_id: str, request: Request, session: Sess, csrf: Annotated[str, Form()],
               next_: Annotated[str, Form(alias="next", max_length=200)] = "/actions") -> Response:
        check_csrf(session, csrf)
        incidents.actions.reject(session.user, action_id)
        return back(request, next_ if next_.startswith("/") and not next_.startswith("//") else "/actions")

    @app.get("/actions", response_class=HTMLResponse)
    def actions_page(request: Request, session: Sess) -> HTMLResponse:
        u = session.user
        incidents.cases.record_view(u, "console.actions", None)
        return render(request, "actions.html", session=session,
                      pending=[a.to_dict() for a in incidents.actions.pending(u)],
                      states=incidents.actions.states(u))

    @app.get("/cases/{case_id}/report.pdf")
    def report(case_id: str, request: Request, session: Sess) -> Response:
        lang = request.query_params.get("lang", "zh")
        u = session.user
        pdf = incidents.police_report(u, case_id, "en" if lang == "en" else "zh")
        customer = next((e["key"] for e in incidents.cases.detail(u, case_id)["entities"] if e["kind"] == "customer"),
                        None)
        incidents.cases.record_view(u, "console.report", customer, case_id, employee_id=u.employee_id,
                                    branch_id=u.branch_id, query_type="personal_data")
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{case_id}-{lang}.pdf"'})

    for page_module in (queue_page, profile_page, rules_page, dashboard_page):
        page_module.install(app, ui)
    return app


def _not_found() -> DunpaiError:
    return NotFound("no such page")


def _counterfeit(incidents: Incidents, user: Any, case_id: str | None) -> bool:
    if case_id is None:
        return False
    detail = incidents.cases.detail(user, case_id)
    return any(r.startswith("counterfeit.") for a in detail["alerts"] for r in a["reasons"])
