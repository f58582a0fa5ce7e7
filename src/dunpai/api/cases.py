"""HTTP API of incident response (thin): cases, account actions with dual control, evidence,
police report, notices, disputes and the loss reserve.

Mount with ``install_cases(app, incidents)``. Authentication and roles are the decision API's
(``Caller``); every id is looked up in the caller's tenant, so a foreign id answers 404; every
change is audited by the services. Reading a case is a staff data access and is recorded as one.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import Field

from dunpai.api.app import Caller
from dunpai.api.inputs import LATEST, LINE, TEXT, AlertIn, Body, Epoch, Facts
from dunpai.core.errors import FieldProblem, InvalidInput
from dunpai.core.roles import ALERT_SENDERS, SUPERVISORS, require
from dunpai.risk.cases.incidents import Incidents
from dunpai.risk.cases.model import Alert

router = APIRouter(tags=["cases"])


class _In(Body):
    """Strict JSON types, no unknown field; every text bounded and free of control characters."""


class TransitionIn(_In):
    to: Literal["investigating", "confirmed_fraud", "legitimate", "closed"]
    note: str | None = Field(default=None, max_length=10_000, pattern=TEXT)


class AssignIn(_In):
    assignee: str | None = Field(default=None, max_length=64, pattern=LINE)


class DueIn(_In):
    due_at: Epoch


class NoteIn(_In):
    text: str = Field(min_length=1, max_length=10_000, pattern=TEXT)


class FootageIn(_In):
    camera_id: str = Field(min_length=1, max_length=64, pattern=LINE)
    terminal_id: str | None = Field(default=None, max_length=128, pattern=LINE)
    start: str = Field(max_length=40, pattern=LINE)
    end: str = Field(max_length=40, pattern=LINE)
    uri: str = Field(max_length=500, pattern=LINE)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ActionIn(_In):
    target_kind: Literal["account", "card"]
    target_id: str = Field(min_length=1, max_length=128, pattern=LINE)
    action: Literal["restrict", "freeze", "unfreeze"]
    legal_basis: str = Field(max_length=64, pattern=LINE)
    reason: str = Field(min_length=1, max_length=2000, pattern=TEXT)
    case_id: str | None = Field(default=None, max_length=64, pattern=LINE)
    customer_id: str | None = Field(default=None, max_length=128, pattern=LINE)


class DecideIn(_In):
    note: str | None = Field(default=None, max_length=2000, pattern=TEXT)


class DisputeIn(_In):
    case_id: str = Field(max_length=64, pattern=LINE)
    customer_id: str = Field(max_length=128, pattern=LINE)
    account_id: str = Field(max_length=128, pattern=LINE)
    claimed: int = Field(gt=0, le=10**15)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    statement: str = Field(default="", max_length=10_000, pattern=TEXT)
    facts: Facts = Field(default_factory=dict)


class AssessIn(_In):
    facts: Facts = Field(default_factory=dict)
    loss: int | None = Field(default=None, ge=0, le=10**15)


class MoneyIn(_In):
    amount: int = Field(gt=0, le=10**15)
    memo: str = Field(default="", max_length=500, pattern=TEXT)
    dispute_id: str | None = Field(default=None, max_length=64, pattern=LINE)


def incidents(request: Request) -> Incidents:
    found: Incidents = request.app.state.incidents
    return found


def _customer_of(detail: dict[str, Any]) -> str | None:
    for e in detail["entities"]:
        if e["kind"] == "customer":
            return str(e["key"])
    return None


# -- cases -----------------------------------------------------------------------------------------

@router.get("/v1/cases")
def list_cases(request: Request, caller: Caller, limit: Annotated[int, Query(ge=1, le=500)] = 50,
               include_closed: bool = False) -> list[dict[str, Any]]:
    """The queue: open cases, most likely fraud first, then the most money at risk."""
    return [c.to_dict() for c in incidents(request).cases.queue(caller, limit, include_closed)]


@router.post("/v1/cases/next")
def take_next(request: Request, caller: Caller) -> dict[str, Any] | None:
    """Assign the top unassigned new case to the caller."""
    case = incidents(request).cases.next_for(caller)
    return None if case is None else case.to_dict()


@router.post("/v1/cases/sync")
def sync_cases(request: Request, caller: Caller,
               since: Annotated[float, Query(ge=0, le=LATEST, allow_inf_nan=False)] = 0.0) -> dict[str, Any]:
    """Open or join cases for every stored decision above ``allow`` since ``since`` (idempotent).
    Decisions made through ``POST /v1/events`` reach the queue as they are made; this catches up
    on events decided elsewhere (``dunpai replay``, an import) or before a crash."""
    require(caller, *SUPERVISORS)
    return {"cases": incidents(request).cases.sync_from_log(caller.tenant, since, caller)}


@router.post("/v1/alerts", status_code=201)
def post_alert(body: AlertIn, request: Request, caller: Caller) -> dict[str, Any]:
    """An alert from a detector job (``alert``: the Alert form; ``terminal_flag``: the skimmer job's
    ``TerminalFlag.to_alert()``). Re-sending the same alert is a no-op."""
    require(caller, *ALERT_SENDERS)
    svc = incidents(request).cases
    if body.terminal_flag is not None:
        return {"case_id": svc.ingest_terminal_flag(caller.tenant, body.terminal_flag.model_dump(), caller)}
    if body.alert is None:
        raise InvalidInput("send alert or terminal_flag", problems=[FieldProblem("alert", "required")])
    case_id, new = svc.ingest(caller.tenant, Alert.from_dict(body.alert.model_dump()), caller)
    return {"case_id": case_id, "new": new}


@router.get("/v1/cases/{case_id}")
def get_case(case_id: str, request: Request, caller: Caller) -> dict[str, Any]:
    inc = incidents(request)
    detail = inc.cases.detail(caller, case_id)
    inc.cases.record_view(caller, "api.case", _customer_of(detail), case_id)
    return detail


@router.get("/v1/cases/{case_id}/events")
def case_events(case_id: str, request: Request, caller: Caller) -> list[dict[str, Any]]:
    inc = incidents(request)
    events = inc.cases.case_events(caller, case_id)
    inc.cases.record_view(caller, "api.case_events", _customer_of(inc.cases.detail(caller, case_id)), case_id,
                          query_type="transaction_history", records=max(1, len(events)))
    return events


@router.post("/v1/cases/{case_id}/transition")
def transition(case_id: str, body: TransitionIn, request: Request, caller: Caller) -> dict[str, Any]:
    return incidents(request).cases.transition(caller, case_id, body.to, body.note).to_dict()


@router.post("/v1/cases/{case_id}/assign")
def assign(case_id: str, body: AssignIn, request: Request, caller: Caller) -> dict[str, Any]:
    return incidents(request).cases.assign(caller, case_id, body.assignee).to_dict()


@router.post("/v1/cases/{case_id}/due")
def set_due(case_id: str, body: DueIn, request: Request, caller: Caller) -> dict[str, Any]:
    return incidents(request).cases.set_due(caller, case_id, body.due_at).to_dict()


@router.post("/v1/cases/{case_id}/notes", status_code=201)
def add_note(case_id: str, body: NoteIn, request: Request, caller: Caller) -> dict[str, Any]:
    incidents(request).cases.add_note(caller, case_id, body.text)
    return {"ok": True}


@router.post("/v1/cases/{case_id}/attachments", status_code=201)
async def add_attachment(case_id: str, request: Request, caller: Caller,
                         name: Annotated[str, Query(min_length=1, max_length=200)]) -> dict[str, Any]:
    """The raw request body is the file (at most 20 MiB, refused before it is read: ``guard``);
    its ``Content-Type`` is kept."""
    content = await request.body()
    media = request.headers.get("content-type", "application/octet-stream")[:100]
    return incidents(request).cases.add_attachment(caller, case_id, name, media, content)


@router.post("/v1/cases/{case_id}/footage", status_code=201)
def add_footage(case_id: str, body: FootageIn, request: Request, caller: Caller) -> dict[str, Any]:
    incidents(request).cases.add_footage_ref(caller, case_id, **body.model_dump())
    return {"ok": True}


@router.post("/v1/cases/{case_id}/evidence/collect")
def collect_evidence(case_id: str, request: Request, caller: Caller) -> dict[str, Any]:
    return {"added": incidents(request).cases.collect_evidence(caller, case_id)}


@router.get("/v1/cases/{case_id}/evidence")
def list_evidence(case_id: str, request: Request, caller: Caller) -> list[dict[str, Any]]:
    return [it.header() for it, _ in incidents(request).cases.evidence(caller, case_id)]


@router.get("/v1/cases/{case_id}/report.pdf", response_class=Response)
def police_report(case_id: str, request: Request, caller: Caller,
                  lang: Literal["zh", "en"] = "zh") -> Response:
    """The police report (报案材料) as PDF, in Chinese or English."""
    inc = incidents(request)
    pdf = inc.police_report(caller, case_id, lang)
    inc.cases.record_view(caller, "api.report", _customer_of(inc.cases.detail(caller, case_id)), case_id,
                          query_type="personal_data")
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{case_id}-{lang}.pdf"'})


@router.get("/v1/cases/{case_id}/notices")
def notices(case_id: str, request: Request, caller: Caller) -> list[dict[str, Any]]:
    return incidents(request).notices(caller, case_id)


@router.post("/v1/cases/{case_id}/recoveries", status_code=201)
def recovery(case_id: str, body: MoneyIn, request: Request, caller: Caller) -> dict[str, Any]:
    """Funds retrieved: credited back to the loss reserve."""
    return incidents(request).disputes.record_recovery(caller, case_id, body.amount, body.memo,
                                                       body.dispute_id).to_dict()


# -- account actions -------------------------------------------------------------------------------

@router.post("/v1/account-actions", status_code=201, tags=["account actions"])
def request_action(body: ActionIn, request: Request, caller: Caller) -> dict[str, Any]:
    """Ask for a restrict, freeze or unfreeze; a second person of the supervisor role approves it."""
    return incidents(request).actions.request(caller, **body.model_dump()).to_dict()


@router.get("/v1/account-actions", tags=["account actions"])
def list_actions(request: Request, caller: Caller) -> list[dict[str, Any]]:
    return [a.to_dict() for a in incidents(request).actions.pending(caller)]


@router.get("/v1/account-actions/{action_id}", tags=["account actions"])
def get_action(action_id: str, request: Request, caller: Caller) -> dict[str, Any]:
    return incidents(request).actions.get(caller, action_id).to_dict()


@router.post("/v1/account-actions/{action_id}/approve", tags=["account actions"])
def approve_action(action_id: str, body: DecideIn, request: Request, caller: Caller) -> dict[str, Any]:
    """Dual control: the requester's own approval is refused (403)."""
    return incidents(request).actions.approve(caller, action_id, body.note).to_dict()


@router.post("/v1/account-actions/{action_id}/reject", tags=["account actions"])
def reject_action(action_id: str, body: DecideIn, request: Request, caller: Caller) -> dict[str, Any]:
    return incidents(request).actions.reject(caller, action_id, body.note).to_dict()


@router.get("/v1/account-states", tags=["account actions"])
def account_states(request: Request, caller: Caller) -> list[dict[str, Any]]:
    return incidents(request).actions.states(caller)


# -- disputes and the reserve ----------------------------------------------------------------------

@router.post("/v1/disputes", status_code=201, tags=["disputes"])
def open_dispute(body: DisputeIn, request: Request, caller: Caller) -> dict[str, Any]:
    return incidents(request).disputes.open(caller, **body.model_dump())


@router.get("/v1/disputes/{dispute_id}", tags=["disputes"])
def get_dispute(dispute_id: str, request: Request, caller: Caller) -> dict[str, Any]:
    return incidents(request).disputes.get(caller, dispute_id)


@router.post("/v1/disputes/{dispute_id}/assess", tags=["disputes"])
def assess_dispute(dispute_id: str, body: AssessIn, request: Request, caller: Caller) -> dict[str, Any]:
    return incidents(request).disputes.assess(caller, dispute_id, body.facts, body.loss)


@router.post("/v1/disputes/{dispute_id}/settle", tags=["disputes"])
def settle_dispute(dispute_id: str, request: Request, caller: Caller) -> dict[str, Any]:
    """Pay the bank's share from the loss reserve (not by the person who assessed it)."""
    return incidents(request).disputes.settle(caller, dispute_id)


@router.get("/v1/reserve", tags=["disputes"])
def reserve(request: Request, caller: Caller) -> dict[str, Any]:
    return incidents(request).disputes.ledger(caller)


@router.post("/v1/reserve/fund", status_code=201, tags=["disputes"])
def fund(body: MoneyIn, request: Request, caller: Caller) -> dict[str, Any]:
    return incidents(request).disputes.fund_reserve(caller, body.amount, body.memo).to_dict()


def install_cases(app: FastAPI, incidents_: Incidents) -> None:
    """Mount the router on the decision API's app (same authentication and error presenter), and
    open or join cases as the decision endpoint decides (no ``/v1/cases/sync`` needed)."""
    app.state.incidents = incidents_
    app.include_router(router)
    events = getattr(app.state, "events", None)
    if events is not None:
        events.batcher.after = incidents_.cases.ingest_submitted
