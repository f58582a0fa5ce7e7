"""Build the engine as a deployment would: default ruleset, default detectors, given enrichers."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.resources import files

from dunpai.risk.decisions.engine import Engine, Enricher, WithInputs, known_variables
from dunpai.risk.decisions.record import Decision
from dunpai.risk.detectors import DEFAULT_DETECTORS
from dunpai.risk.events.schemas import AnyEvent
from dunpai.risk.features.pipeline import FeaturePipeline
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.rules.compiler import CompiledRuleset


def engine_with(*enrichers: Enricher) -> WithInputs:
    pipeline = FeaturePipeline()
    text = files("dunpai.risk.rules").joinpath("default.yaml").read_text(encoding="utf-8")
    ruleset = CompiledRuleset.from_yaml(text, known_variables(pipeline, DEFAULT_DETECTORS, enrichers))
    return WithInputs(Engine(ruleset, pipeline), enrichers)


class Replay:
    """Feeds events through the engine in order, writing states as the service would."""

    def __init__(self, engine: WithInputs) -> None:
        self.engine = engine
        self.store = MemoryStore()
        self.seq = 0

    def decide(self, event: AnyEvent) -> Decision:
        decision, states = self.engine.decide(event, self.store)
        self.seq += 1
        self.store.put_many(states, self.seq)
        return decision

    def run(self, events: Iterable[AnyEvent]) -> list[Decision]:
        return [self.decide(e) for e in events]


def hits(decision: Decision) -> set[str]:
    return {r.rule_id for r in decision.rule_results if r.outcome == "hit"}
