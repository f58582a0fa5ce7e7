"""What every console page module shares: the signed-in session, the templates in the chosen
language, CSRF checks and redirects. ``create_console`` makes one ``Console`` and hands it to each
page module's ``install``."""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from dunpai.core.errors import FieldProblem, Forbidden, InvalidInput
from dunpai.core.roles import APPROVERS
from dunpai.risk.cases.incidents import Incidents
from dunpai.risk.cases.model import STATUS_TEXT
from dunpai.risk.cases.profiles import ProfileService
from dunpai.risk.cases.report_words import event_words
from dunpai.risk.cases.rule_changes import RuleChangeService
from dunpai.web import staff
from dunpai.web.i18n import LANGS, pick, place_name, text_of, word

HERE = Path(__file__).resolve().parent
LANG_COOKIE = "dunpai_lang"
CST = timezone(timedelta(hours=8))


def _session(request: Request) -> staff.Session:
    """The signed-in staff member (the console app's ``current_session``, which sends a browser
    without a valid session to the sign-in page)."""
    found: staff.Session = request.app.state.current_session(request)
    return found


Sess = Annotated[staff.Session, Depends(_session)]


def number(v: Any) -> str:
    """A feature value as a person reads it: 17,900.00 rather than 1.79e+04; 0.357 rather than
    0.35700000001."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return "" if v is None else str(v)
    if not math.isfinite(v):
        return str(v)
    if float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:,.2f}" if abs(v) >= 100 else f"{v:.4g}"


def parse_day(value: str | None, field: str) -> date | None:
    """A ``YYYY-MM-DD`` form field (empty: none), or a clear error naming the field."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("a date is written YYYY-MM-DD", problems=[FieldProblem(field, "YYYY-MM-DD")]) from None


def day_start(d: date) -> float:
    """Midnight at the start of ``d`` in bank time (UTC+8), as epoch seconds."""
    return datetime(d.year, d.month, d.day, tzinfo=CST).timestamp()


def bank_day(t: float) -> date:
    return datetime.fromtimestamp(t, CST).date()


def parse_int(value: str | None, field: str, lo: int = 0, hi: int = 10**9) -> int | None:
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except ValueError:
        raise InvalidInput("a whole number is needed", problems=[FieldProblem(field, "a whole number")]) from None
    if not lo <= n <= hi:
        raise InvalidInput("number out of range", problems=[FieldProblem(field, f"{lo} to {hi}")])
    return n


def parse_yuan(value: str | None, field: str) -> int | None:
    """An amount in yuan (``1234.5``) as integer fen."""
    if value is None or value.strip() == "":
        return None
    try:
        amount = Decimal(value.strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidInput("an amount in yuan is needed", problems=[FieldProblem(field, "an amount")]) from None
    if not amount.is_finite() or amount < 0 or amount > Decimal(10) ** 13:
        raise InvalidInput("amount out of range", problems=[FieldProblem(field, "0 to 10^13 yuan")])
    fen = amount * 100
    if fen != fen.to_integral_value():  # a filter never rounds: 12.345 yuan is no amount anyone paid
        raise InvalidInput("an amount in yuan has at most two decimals",
                           problems=[FieldProblem(field, "at most two decimals (fen)")])
    return int(fen)


def local_path(to: str, default: str) -> str:
    """``to`` when it is a path on this site, else ``default`` (no open redirects)."""
    return to if to.startswith("/") and not to.startswith("//") else default


class Console:
    def __init__(self, incidents: Incidents, risk: Any, *, secure_cookies: bool = True,
                 clock: Callable[[], float] = time.time, model_registry: Path | None = None,
                 alert_budget: float = 0.005, filters: Mapping[str, Callable[[Any], str]] | None = None) -> None:
        """``model_registry``: where the tenants' models are (``<registry>/<tenant>``; default
        ``<data dir>/models``); ``alert_budget``: the share of legitimate payments a step above
        allow may interrupt (the backtest recommends thresholds for it)."""
        self.incidents = incidents
        self.risk = risk
        self.secure_cookies = secure_cookies
        self.clock = clock
        self.model_registry = model_registry
        self.alert_budget = alert_budget
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(num=number, **(filters or {}))
        self.env.globals["APPROVERS"] = APPROVERS
        self.profiles = ProfileService(incidents.deps)
        self.rule_changes = RuleChangeService(incidents.deps, risk) if risk is not None else None

    def lang_of(self, request: Request) -> str:
        chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
        return chosen if chosen in LANGS else "zh"

    def render(self, request: Request, template: str, status: int = 200, session: staff.Session | None = None,
               **values: Any) -> HTMLResponse:
        lang = self.lang_of(request)
        base = request.scope.get("root_path", "")
        query = {k: v for k, v in request.query_params.items() if k != "lang"}

        def with_query(**changes: Any) -> str:
            """This page's address with some query parameters changed (``None`` drops one)."""
            merged: dict[str, Any] = {**query, **changes}
            kept = {k: v for k, v in merged.items() if v not in (None, "")}
            return request.url.path + ("?" + urlencode(kept) if kept else "")

        html = self.env.get_template(template).render(
            t=lambda key: word(key, lang), pick=lambda v: pick(v, lang), lang=lang, base=base,
            user=session.user if session else None, csrf=session.csrf if session else "",
            path=request.url.path, status_text=lambda s: pick(STATUS_TEXT[s], lang),
            code=lambda group, value: text_of(group, value, lang), place=lambda name: place_name(name, lang),
            what=lambda event_type, detail="": pick(event_words(str(event_type), str(detail or "")), lang),
            with_query=with_query, query=query, **values)
        resp = HTMLResponse(html, status_code=status)
        if request.query_params.get("lang") in LANGS:
            resp.set_cookie(LANG_COOKIE, lang, samesite="strict", secure=self.secure_cookies, max_age=365 * 86400)
        return resp

    def check_csrf(self, session: staff.Session, token: str) -> None:
        if not hmac.compare_digest(session.csrf.encode(), token.encode()):
            raise Forbidden("the form expired; reload the page")

    def back(self, request: Request, to: str) -> RedirectResponse:
        return RedirectResponse(request.scope.get("root_path", "") + to, status_code=303)

    def record_view(self, session: staff.Session, page: str, customer_id: str | None, case_id: str | None = None,
                    records: int = 1) -> None:
        """A page that shows customer data is a staff data access: audited, and decided by the
        insider detector like any other (``CaseService.record_view``)."""
        u = session.user
        self.incidents.cases.record_view(u, page, customer_id, case_id, employee_id=u.employee_id,
                                         branch_id=u.branch_id, records=max(1, records))
