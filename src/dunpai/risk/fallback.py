"""The stand-in decision: what ``POST /v1/events`` answers when the full decision cannot be made in
time (the database, the state store or the model is slow or down).

It is the tenant's published ruleset (as this process last loaded it; the default ruleset before
any) evaluated on the event alone: features computed from empty state (so velocity and novelty
read as if this were the entity's first use), the detectors' signals that need nothing else, no
model, no enrichers (mobile-shield verification, exposure lists), no account-status look-up. It
reads no database and writes nothing: the event itself is recorded, and decided by the full
engine, once the dependency answers (``api/deadline.py``). Rules that need what is missing are not
applicable, exactly as for an event that lacks a field. Pure apart from parsing the event (which
tokenises a card number with the key store held in memory).
"""

from __future__ import annotations

from typing import Any

from dunpai.risk.decisions.engine import Engine
from dunpai.risk.decisions.record import Decision
from dunpai.risk.events.ingest import parse_event
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.rules.compiler import CompiledRuleset
from dunpai.risk.service import DEFAULT_RULESET, RiskService

STAND_IN = "degraded.stand_in"
"""Reason code added to every stand-in decision."""


class StandIn:
    def __init__(self, service: RiskService) -> None:
        self.service = service
        self._default: CompiledRuleset | None = None
        self._engines: dict[tuple[str, str], Engine] = {}

    def _ruleset(self, tenant: str) -> CompiledRuleset:
        published = self.service.loaded_ruleset(tenant)
        if published is not None:
            return published
        if self._default is None:
            self._default = CompiledRuleset.from_yaml(DEFAULT_RULESET.read_text(encoding="utf-8"), self.service.known)
        return self._default

    def decide(self, tenant: str, raw: Any) -> Decision:
        """The stand-in decision for one raw event; raises ``InvalidInput`` for a bad event, as the
        full path would."""
        event, _ = parse_event(raw, self.service.protector)
        self.service.check_event_time(event)
        ruleset = self._ruleset(tenant)
        engine = self._engines.get((tenant, ruleset.version))
        if engine is None:
            engine = Engine(ruleset, pipeline=self.service.pipeline, tenant=tenant)
            self._engines[(tenant, ruleset.version)] = engine
        decision, _ = engine.decide(event, MemoryStore())  # empty state; the new states are dropped
        return decision._replace(reasons=(*decision.reasons, STAND_IN))
