"""The HTTP API (thin): authenticate, parse, call one service, map the result.

Every endpoint but ``/health`` (which says only that it answers) and the API's own description
(``/docs``, ``/openapi.json``) requires an API key; roles decide what each key may do; every id is looked up
within the caller's tenant, so a foreign id answers 404.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import generate_latest
from pydantic import BaseModel, TypeAdapter
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from dunpai import __version__
from dunpai.api import errors
from dunpai.api.auth import Authenticator, Principal
from dunpai.api.batcher import Batcher
from dunpai.api.deadline import Deadline
from dunpai.api.docs import install_docs
from dunpai.api.guard import guarded
from dunpai.core.errors import DunpaiError, FieldProblem, Forbidden, InvalidInput, Unavailable
from dunpai.core.roles import (
    ADMINS,
    ANALYSTS,
    DECISION_READERS,
    INTEGRATORS,
    STAFF_ROLES,
    SUPERVISORS,
    require,
)
from dunpai.risk.events.schemas import Event
from dunpai.risk.service import RiskService

_log = logging.getLogger("dunpai.api")
_EVENT_SCHEMA = TypeAdapter(Event).json_schema(ref_template="#/components/schemas/{model}")


class Bilingual(BaseModel):
    zh: str
    en: str


class DecisionSummary(BaseModel):
    """What the caller needs to act: the action, why (codes), and what to tell the customer."""

    decision_id: str
    event_id: str
    action: str
    score: int
    reasons: list[str]
    customer_message: Bilingual
    ruleset_version: str
    model_version: str | None
    duplicate: bool
    degraded: bool = False
    """True for the stand-in decision (rules on the event alone) given when the full decision could
    not be made within the deadline; the event is recorded and fully decided later."""


class Problem(BaseModel):
    field: str
    problem: str


class ErrorBody(BaseModel):
    code: str
    message: str
    problems: list[Problem] = []


def _decision_summary(d: Any, duplicate: bool) -> dict[str, Any]:
    return {
        "decision_id": d.decision_id, "event_id": d.event_id, "action": d.action, "score": d.score,
        "reasons": list(d.reasons), "customer_message": d.customer_message.to_dict(),
        "ruleset_version": d.ruleset_version, "model_version": d.model_version, "duplicate": duplicate,
        "degraded": False,
    }


async def principal(request: Request) -> Principal:
    """The authenticated caller (every route depends on this). Async on purpose: a sync dependency
    would cost a thread-pool hop on every request; a key not yet cached is one indexed look-up."""
    auth: Authenticator = request.app.state.auth
    return auth.principal(request.headers)


Caller = Annotated[Principal, Depends(principal)]


class DunpaiAPI(FastAPI):
    """The API application. ``POST /v1/events`` — the hot path — goes straight to its handler
    (:class:`EventsEndpoint`); every other request takes FastAPI's full stack."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
        elif scope["path"] == "/v1/events" and scope["method"] == "POST":
            await guarded(scope, receive, send, self.state.events)
        else:
            await guarded(scope, receive, send, super().__call__)


class EventsEndpoint:
    """``POST /v1/events`` as a bare ASGI handler: authenticate, read the bounded body, decide
    through the batcher, answer JSON. It skips the middleware stack and dependency solving (a good
    share of a small request's cost); authentication, roles and error bodies are those of every
    other route (``errors.STATUS``). ``_EVENTS_OPERATION`` documents it in OpenAPI."""

    def __init__(self, auth: Authenticator, batcher: Batcher, deadline: Deadline | None = None) -> None:
        self.auth = auth
        self.batcher = batcher
        self.deadline = deadline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: list[tuple[bytes, bytes]] = []
        try:
            caller = self.auth.principal(Headers(scope=scope))
            status, body = 200, await self.decide(caller, await _read_body(receive))
        except DunpaiError as exc:
            status, body = errors.STATUS.get(exc.code, 500), exc.to_dict()
            if exc.code == "unauthenticated":
                headers.append((b"www-authenticate", b"Bearer"))
        except Exception:  # not even the stand-in could answer: say so, never hang or drop the connection
            _log.exception("POST /v1/events failed")
            status, body = 503, Unavailable("the decision service cannot decide now; apply your stand-in rules "
                                            "and send the event again later").to_dict()
        payload = _json(body).encode()
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def decide(self, caller: Principal, body: bytes) -> dict[str, Any]:
        require(caller, *INTEGRATORS)
        check_label_source(caller, body)
        if self.deadline is not None:
            return await self.deadline.decide(caller.tenant, body, _decision_summary)
        result = await self.batcher.submit(caller.tenant, body)
        return _decision_summary(result.decision, result.duplicate)


INTEGRATOR_LABEL_SOURCES = ("customer_claim", "chargeback", "police", "import")


def check_label_source(caller: Principal, body: bytes) -> None:
    """A label's source comes from the caller's role: an integrator key relays what the bank's
    systems learnt (a customer's claim, a chargeback, the police, an import) and must say which;
    only staff roles conclude as ``analyst`` (a label that blocks a card from its next use)."""
    if caller.role in STAFF_ROLES or b'"label"' not in body:
        return
    try:
        raw = json.loads(body)
    except ValueError:
        return  # not JSON: validation answers it
    if not isinstance(raw, dict) or raw.get("type") != "label":
        return
    if raw.get("source") not in INTEGRATOR_LABEL_SOURCES:
        raise Forbidden("an integrator key labels events as " + ", ".join(INTEGRATOR_LABEL_SOURCES), problems=[
            FieldProblem("source", f"one of {', '.join(INTEGRATOR_LABEL_SOURCES)} for role {caller.role}")])


def _json(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


async def _read_body(receive: Receive) -> bytes:
    """The request body (``guard.bounded`` refuses it past ``MAX_BODY`` before more is read)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidInput("request body incomplete", problems=[FieldProblem("$", "client disconnected")])
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def create_app(service: RiskService, auth: Authenticator, *, deadline_s: float | None = None,
               spool_dir: Path | None = None) -> FastAPI:
    """The API over ``service``. With ``deadline_s`` or ``spool_dir`` (what ``dunpai serve`` passes:
    ``events.deadline_ms`` and ``DATA_DIR/spool``) decisions run in a worker thread and
    ``POST /v1/events`` answers in time with a stand-in when a dependency is slow or down
    (``api/deadline.py``)."""
    app = DunpaiAPI(title="Dunpai risk decision API", version=__version__, docs_url=None, redoc_url=None,
                    description="Real-time decisions on card, mobile-banking, login and staff-access events.")
    install_docs(app)
    app.state.auth = auth
    app.state.service = service
    if deadline_s is None and spool_dir is None:
        app.state.events = EventsEndpoint(auth, Batcher(service))
    else:
        batcher = Batcher(service, threaded=True)
        app.state.events = EventsEndpoint(auth, batcher, Deadline(service, batcher, deadline_s, spool_dir))
    errors.install(app)

    async def _body(request: Request) -> bytes:
        return await request.body()  # bounded by ``guard`` before it is read

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, Any]:
        """Liveness for load balancers: no key needed, and it says nothing but that it answers."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics(caller: Caller) -> Response:
        """Prometheus counters of the whole service (every tenant's traffic together): admin keys only."""
        require(caller, *ADMINS)
        return Response(generate_latest(service.metrics.registry), media_type="text/plain; version=0.0.4")

    @app.get("/v1/decisions/{decision_id}", tags=["decisions"])
    def get_decision(decision_id: str, caller: Caller) -> dict[str, Any]:
        """A decision with both explanations: every rule's result and the values it saw, the
        model's top contributions, and the customer's plain-language message."""
        require(caller, *DECISION_READERS)
        return service.explain(caller.tenant, decision_id)

    @app.get("/v1/rulesets", tags=["rulesets"])
    def list_rulesets(caller: Caller) -> list[dict[str, Any]]:
        require(caller, *ANALYSTS)
        return [_ruleset(r, source=False) for r in service.rulesets(caller.tenant)]

    @app.get("/v1/rulesets/{version}", tags=["rulesets"])
    def get_ruleset(version: str, caller: Caller) -> dict[str, Any]:
        require(caller, *ANALYSTS)
        return _ruleset(service.ruleset(caller.tenant, version), source=True)

    @app.post("/v1/rulesets/validate", tags=["rulesets"], openapi_extra=_YAML_BODY)
    async def validate_ruleset(request: Request, caller: Caller) -> dict[str, Any]:
        """Check a ruleset without storing it; a 422 names each rule and position at fault."""
        require(caller, *ANALYSTS)
        compiled = service.validate_ruleset(_text(await _body(request)))
        return {"valid": True, "version": compiled.version, "rules": len(compiled.rules)}

    @app.post("/v1/rulesets", tags=["rulesets"], status_code=201, openapi_extra=_YAML_BODY)
    async def upload_ruleset(request: Request, caller: Caller) -> dict[str, Any]:
        """Upload a ruleset (YAML) as a draft. The version is derived from its content."""
        require(caller, *ANALYSTS)
        row = service.upload_ruleset(caller.tenant, _text(await _body(request)), caller.name)
        return _ruleset(row, source=False)

    @app.post("/v1/rulesets/{version}/publish", tags=["rulesets"])
    def publish_ruleset(version: str, caller: Caller) -> dict[str, Any]:
        """Publish a draft; the next event is decided by it, with no restart. Dual control: the key
        that uploaded the draft cannot publish it (the console's rule editor enforces the same)."""
        require(caller, *SUPERVISORS)
        if service.ruleset(caller.tenant, version).created_by == caller.name:
            raise Forbidden("dual control: a ruleset is published by someone other than its uploader")
        return _ruleset(service.publish_ruleset(caller.tenant, version, caller.name), source=False)

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        defs = dict(_EVENT_SCHEMA.get("$defs", {}))
        components.update(defs)
        components["Event"] = {k: v for k, v in _EVENT_SCHEMA.items() if k != "$defs"}
        for model in (DecisionSummary, ErrorBody):
            found = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(found.pop("$defs", {}))
            components[model.__name__] = found
        schema.setdefault("paths", {})["/v1/events"] = _EVENTS_OPERATION
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    return app


def _json_ref(name: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}


# ``POST /v1/events`` is answered by ``EventsEndpoint`` before routing, so it has no FastAPI route;
# this is its OpenAPI description.
_EVENTS_OPERATION = {"post": {
    "tags": ["decisions"], "summary": "Submit Event", "operationId": "submit_event_v1_events_post",
    "description": "Submit one event; get the decision synchronously. Resending an event id returns the "
                   "original decision (`duplicate: true`); reusing it for different content is a 409.",
    "requestBody": {"required": True, **_json_ref("Event")},
    "responses": {"200": {"description": "the decision", **_json_ref("DecisionSummary")},
                  "401": {"description": "no or unknown API key", **_json_ref("ErrorBody")},
                  "403": {"description": "the key's role may not submit events, or not a label of that source",
                          **_json_ref("ErrorBody")},
                  "409": {"description": "event id reused with other content", **_json_ref("ErrorBody")},
                  "503": {"description": "not even the stand-in decision could be made: apply the switch's own "
                                         "stand-in rules and resend the event later", **_json_ref("ErrorBody")},
                  "422": {"description": "invalid event; each bad field named", **_json_ref("ErrorBody")}},
}}
_YAML_BODY = {"requestBody": {"required": True, "content": {"application/yaml": {"schema": {"type": "string"}}}}}


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("ruleset must be UTF-8 text", problems=[FieldProblem("$", "not UTF-8")]) from None


def _ruleset(row: Any, source: bool) -> dict[str, Any]:
    out = {"version": row.version, "name": row.name, "status": row.status, "created_by": row.created_by,
           "created_at": row.created_at, "published_at": row.published_at}
    if source:
        out["source"] = row.source
    return out
