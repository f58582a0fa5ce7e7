"""The console's sign-in: ``GET /signin`` and ``POST /signin``.

* A CSRF token before any session exists: the page puts a random token in an HttpOnly,
  SameSite=Strict cookie and in the form; the post needs both to match, so no other site can sign
  a browser in (into an attacker's account, say). A mismatch shows the form again, with a new token.
* Throttling per user name and per client (``throttle.py``): a locked name is refused (429)
  without its password being looked at. Every failure and refusal is audited; the moment a name
  is locked the lock-out is audited and an alert opens (or joins) a case on that staff member.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Annotated, Any, Protocol

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dunpai.core.errors import Unauthenticated
from dunpai.core.i18n import Text
from dunpai.core.ids import derived_id
from dunpai.risk.cases.incidents import Incidents
from dunpai.risk.cases.model import Alert
from dunpai.web import staff
from dunpai.web.throttle import SignInThrottle, ThrottlePolicy

SIGNIN_COOKIE = "dunpai_signin"
FORM_EXPIRED = Text("表单已过期，请重新登录", "The form expired; please sign in again")
TOO_MANY = Text("尝试次数过多，请约 {minutes} 分钟后再试", "Too many attempts; try again in about {minutes} min")


class Pages(Protocol):
    """What the console's page context offers the sign-in routes."""

    def render(self, request: Request, template: str, status: int = 200, session: staff.Session | None = None,
               **values: Any) -> HTMLResponse: ...

    def back(self, request: Request, to: str) -> RedirectResponse: ...


def install_signin(app: FastAPI, ui: Pages, incidents: Incidents, *, session_cookie: str, secure_cookies: bool,
                   clock: Callable[[], float], policy: ThrottlePolicy | None = None) -> SignInThrottle:
    db = incidents.db
    throttle = SignInThrottle(db, clock, policy)

    def form(request: Request, status: int = 200, *, failed: bool = False, next_: str = "/queue",
             notice: Text | None = None) -> HTMLResponse:
        token = secrets.token_urlsafe(24)
        resp = ui.render(request, "signin.html", status, failed=failed, next=next_, signin_csrf=token, notice=notice)
        resp.set_cookie(SIGNIN_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies,
                        max_age=3600, path="/")
        return resp

    def locked_out(username: str, failures: int, locked_for: float) -> None:
        user = staff.find_user(db, username)
        subject = f"{user.tenant}/console/{user.username}" if user else "console/signin"
        incidents.audit.append(username[:64] or "-", "console.signin.locked", subject,
                               {"failures": failures, "locked_s": round(locked_for)})
        if user is None:
            return  # no such staff member: nobody's case to open
        now = clock()
        incidents.cases.ingest(user.tenant, Alert(
            alert_id=derived_id("alr", user.tenant, "signin-locked", user.username, str(int(now))),
            source="insider", kind="console.signin_locked", score=60, raised_at=now,
            entities={"employee_id": user.employee_id}, reasons=("console.signin_locked",),
            summary=Text(f"控制台账户 {user.username} 连续 {failures} 次口令错误，已锁定",
                         f"console account {user.username} locked after {failures} wrong passwords in a row"),
            detail={"failures": failures, "locked_s": round(locked_for)}))

    @app.get("/signin", response_class=HTMLResponse)
    def signin_page(request: Request) -> HTMLResponse:
        return form(request, next_=request.query_params.get("next", "/queue")[:200])

    @app.post("/signin")
    def signin(request: Request, username: Annotated[str, Form(max_length=64)],
               password: Annotated[str, Form(max_length=200)],
               next_: Annotated[str, Form(alias="next", max_length=200)] = "/queue",
               csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
        expected = request.cookies.get(SIGNIN_COOKIE, "")
        if not expected or not hmac.compare_digest(expected.encode(), csrf.encode()):
            return form(request, 403, next_=next_, notice=FORM_EXPIRED)
        client = throttle.client(request.client.host if request.client else None)
        wait = throttle.wait(username, client)
        if wait > 0:
            incidents.audit.append(username[:64] or "-", "console.signin.refused", "console/signin",
                                   {"wait_s": round(wait)})
            return form(request, 429, next_=next_, notice=TOO_MANY.format(minutes=max(1, round(wait / 60))))
        try:
            user = staff.authenticate(db, username, password)
        except Unauthenticated:
            incidents.audit.append(username[:64] or "-", "console.signin.failed", "console/signin", {})
            failure = throttle.failed(username, client)
            if failure.failures == throttle.policy.free:
                locked_out(username, failure.failures, failure.locked_for)
            return form(request, 401, failed=True, next_=next_)
        throttle.succeeded(username)
        token, _ = staff.open_session(db, user, clock())
        incidents.audit.append(user.username, "console.signin", f"{user.tenant}/console", {"role": user.role})
        target = next_ if next_.startswith("/") and not next_.startswith("//") else "/queue"
        resp = ui.back(request, target)
        resp.set_cookie(session_cookie, token, httponly=True, samesite="strict", secure=secure_cookies,
                        max_age=int(staff.SESSION_SECONDS), path="/")
        resp.delete_cookie(SIGNIN_COOKIE, path="/")
        return resp

    return throttle
