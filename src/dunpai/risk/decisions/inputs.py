"""What a decision needs from outside online state, gathered before the engine runs.

The engine is pure: ``Engine.decide(event, state, inputs)``. Everything that needs a look-up — the
mobile-shield verification of a transfer (which consumes the signature's nonce), whether a card is
on a skimmed terminal's exposed list, an employee's peer baseline, whether an analyst froze the
account — is gathered by the service first, inside the batch's database transaction, and handed
over as one :class:`Inputs` value. So the engine runs unchanged in a test with no database, in a
history replay, or inside a stream processor; and a write made while gathering (the nonce) commits
or rolls back with the decision it belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from dunpai.risk.events.schemas import AnyEvent, CardNotPresent, CardPresent, MobileTransfer

ACCOUNT_STATES = ("active", "restricted", "frozen")
"""An account's or card's restriction, weakest first."""


class Inputs(NamedTuple):
    """One event's inputs from outside online state.

    ``features``: the enrichers' features (``shield_valid``, ``card_exposed``, ...), by name;
    ``account_status``: the strictest restriction of the event's account and card (``active``,
    ``restricted`` or ``frozen``)."""

    features: Mapping[str, float] = {}
    account_status: str = "active"


NO_INPUTS = Inputs()
"""No look-ups: what a replay without outside data, or the stand-in decision, decides with."""


class Enricher(Protocol):
    """Adds features that need a look-up outside online state: the mobile-shield verification of a
    transfer, whether a card is on the exposed list of a skimmed terminal, ... Names are declared up
    front so that rules can be validated against them. Called by the service, never by the engine:
    ``conn`` is the batch's open database transaction (``None`` where there is none), so that a
    write made while enriching commits or rolls back with the decision."""

    def feature_names(self) -> tuple[str, ...]: ...

    def enrich(self, event: AnyEvent, t: float, conn: Any = None) -> Mapping[str, float]: ...


class AccountStatus(Protocol):
    """Current restriction of an account or card (set by analysts with dual control):
    ``active``, ``restricted`` or ``frozen``. ``conn``: the batch's transaction, when there is one."""

    def status(self, account_id: str, conn: Any = None) -> str: ...

    def card_status(self, card_id: str, conn: Any = None) -> str: ...


def strictest(a: str, b: str) -> str:
    order = {"active": 0, "restricted": 1, "frozen": 2}
    return a if order.get(a, 0) >= order.get(b, 0) else b


def gather_inputs(event: AnyEvent, enrichers: tuple[Enricher, ...] = (), accounts: AccountStatus | None = None,
                  conn: Any = None) -> Inputs:
    """Every outside input of ``event``, in the order a decision needs them (enrichers, then the
    account's status). ``conn``: the batch's transaction, passed to each port."""
    t = event.event_time.timestamp()
    features: dict[str, float] = {}
    for enricher in enrichers:
        features.update(enricher.enrich(event, t, conn))
    status = "active"
    if accounts is not None and isinstance(event, (CardPresent, CardNotPresent, MobileTransfer)):
        card_id = event.card_id if isinstance(event, (CardPresent, CardNotPresent)) else None
        status = strictest(accounts.status(event.account_id, conn), accounts.card_status(card_id or "", conn))
    if not features and status == "active":
        return NO_INPUTS
    return Inputs(features, status)

