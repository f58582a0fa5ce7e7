"""The decision engine: features -> detectors -> rules -> model -> one action with its reasons.

Pure: (state, event, inputs) -> (decision, new states). It reads the event's online state through
the store it is given (an in-process view: the service's batch overlay, a replay's ``MemoryStore``,
a stream processor's keyed state) and returns the new states instead of writing them; everything
else it needs from outside (mobile-shield verification, exposure lists, account freezes) comes in
``inputs``, gathered by the service beforehand (``decisions/inputs.py``). It does no I/O, reads no
clock, and gives identical decisions for identical event sequences and inputs.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from typing import Protocol

from dunpai.core.i18n import Text
from dunpai.core.ids import derived_id
from dunpai.risk.decisions.inputs import NO_INPUTS, AccountStatus, Enricher, Inputs, gather_inputs
from dunpai.risk.decisions.ladder import ABNORMAL, ACCESS_NEXT_STEP, NEXT_STEP, RANK, Action, stronger
from dunpai.risk.decisions.record import Contribution, Decision
from dunpai.risk.detectors import DEFAULT_DETECTORS, Detector
from dunpai.risk.detectors.base import SignalSpec, run_signals
from dunpai.risk.events.schemas import AnyEvent, CardNotPresent, CardPresent, MobileTransfer
from dunpai.risk.features.layout import Features
from dunpai.risk.features.pipeline import FeaturePipeline
from dunpai.risk.features.store import StateKey, StateStore
from dunpai.risk.rules.compiler import CompiledRuleset, RuleResult
from dunpai.risk.rules.model import Rule

ACCOUNT_FROZEN = "account.frozen"
ACCOUNT_RESTRICTED = "account.restricted"
_ACCOUNT_TEXT = {
    ACCOUNT_FROZEN: Text("账户已被冻结", "the account is frozen"),
    ACCOUNT_RESTRICTED: Text("账户非柜面业务已受限", "non-counter services on the account are restricted"),
}
_MONEY_EVENTS = frozenset({"card_present", "card_not_present", "mobile_transfer"})
_ACCESS_EVENTS = frozenset({"login", "device"})
_ACCOUNT_EVENTS = (CardPresent, CardNotPresent, MobileTransfer)

__all__ = ["ACCOUNT_FROZEN", "ACCOUNT_RESTRICTED", "AccountStatus", "Engine", "Enricher", "Inputs", "Scorer",
           "WithInputs", "customer_message", "known_variables"]


class Scorer(Protocol):
    """A loaded model: probability of fraud and per-decision contributions (SHAP)."""

    version: str

    def predict(self, features: Mapping[str, float]) -> float: ...

    def contributions(self, features: Mapping[str, float], top: int) -> list[tuple[str, float]]: ...

    def reason_for(self, feature: str) -> str: ...


class Engine:
    def __init__(
        self,
        ruleset: CompiledRuleset,
        pipeline: FeaturePipeline | None = None,
        detectors: tuple[Detector, ...] = DEFAULT_DETECTORS,
        model: Scorer | None = None,
        tenant: str = "default",
    ) -> None:
        self.pipeline = pipeline or FeaturePipeline()
        self.detectors = detectors
        self.ruleset = ruleset
        self.model = model
        self.tenant = tenant
        self._available: dict[tuple[str, ...], frozenset[str]] = {}
        self._signals: dict[str, tuple[SignalSpec, ...]] = {}  # every detector's signals, by event type

    def judge(self, etype: str, f: Features, fired: list[str]) -> tuple[Action, float, list[Rule], list[RuleResult]]:
        """Detectors and rules on an event's features: the rules' action and score, the rules that
        hit (strongest first) and every rule's result. ``f`` gains the signals, ``fired`` their
        names. History replays call this without building a decision record."""
        signals = self._signals.get(etype)
        if signals is None:
            signals = self._signals[etype] = tuple(s for det in self.detectors for s in det.for_type(etype))
        run_signals(signals, f, fired)
        available = self._available.get(f.shape)
        if available is None:
            available = self._available[f.shape] = frozenset(f)
        results = self.ruleset.evaluate(etype, available, f)
        action: Action = "allow"
        rule_score = 1.0
        hits = []
        for r in results:
            if r.outcome == "hit":
                rule = self.ruleset.by_id[r.rule_id].rule
                hits.append(rule)
                action = stronger(action, rule.action)
                rule_score *= 1.0 - rule.score / 100.0
        hits.sort(key=lambda r: (-RANK[r.action], -r.score, r.id))
        return action, 100.0 * (1.0 - rule_score), hits, results

    def decide(self, event: AnyEvent, store: StateStore,
               inputs: Inputs = NO_INPUTS) -> tuple[Decision, list[tuple[StateKey, array[float]]]]:
        """The decision on ``event`` and the states it produces (not written): ``store`` gives the
        event's entities' current states, ``inputs`` what the service looked up beforehand."""
        _t, f, new_states = self.pipeline.compute(event, store)
        etype = event.type
        if inputs.features:
            f.update(inputs.features)
        fired: list[str] = []
        action, score, hits, results = self.judge(etype, f, fired)
        reasons = list(dict.fromkeys(r.reason for r in hits))
        message_parts = list(dict.fromkeys(Text(r.customer_message.zh, r.customer_message.en) for r in hits))[:2]
        probability = contributions = None
        if self.model is not None and etype in _MONEY_EVENTS:
            probability = self.model.predict(f)
            score = max(score, 100.0 * probability)
            action = stronger(action, self._model_action(probability))
        status = inputs.account_status
        if status in ("frozen", "restricted") and isinstance(event, _ACCOUNT_EVENTS):
            code = ACCOUNT_FROZEN if status == "frozen" else ACCOUNT_RESTRICTED
            action = stronger(action, "freeze" if status == "frozen" else "restrict")
            reasons.insert(0, code)
            message_parts.insert(0, _ACCOUNT_TEXT[code])
            score = max(score, 100.0)
        if self.model is not None and probability is not None and action != "allow":
            contributions = tuple(
                Contribution(name, f.get(name, 0.0), value) for name, value in self.model.contributions(f, 5)
            )
            for c in contributions:
                if c.contribution > 0:
                    code = self.model.reason_for(c.feature)
                    if code not in reasons:
                        reasons.append(code)
        decision = Decision(
            decision_id=derived_id("dec", self.tenant, event.event_id),
            event_id=event.event_id,
            event_type=etype,
            event_time=event.event_time.isoformat(),
            action=action,
            score=round(score),
            reasons=tuple(reasons),
            customer_message=customer_message(action, message_parts, access=etype in _ACCESS_EVENTS),
            rule_results=tuple(results),
            signals=tuple(fired),
            ruleset_version=self.ruleset.version,
            model_version=self.model.version if self.model is not None else None,
            model_probability=probability,
            contributions=contributions or (),
            features=f,
        )
        return decision, new_states

    def _model_action(self, p: float) -> Action:
        """The model's own thresholds (chosen for the tenant's alert budget when it was trained),
        else the ruleset's ``model_thresholds``."""
        own = getattr(self.model, "thresholds", None)
        policy = own() if callable(own) else None
        th = policy if policy is not None else self.ruleset.spec.model_thresholds
        for name, level in (("restrict", th.restrict), ("delay", th.delay), ("verify", th.verify)):
            if level is not None and p >= level:
                return name  # type: ignore[return-value]
        return "allow"


class WithInputs:
    """An engine with input ports that need no transaction (in-memory directories, test doubles),
    for evaluations and tests: gathers each event's inputs, then decides."""

    def __init__(self, engine: Engine, enrichers: tuple[Enricher, ...] = (),
                 accounts: AccountStatus | None = None) -> None:
        self.engine = engine
        self.enrichers = enrichers
        self.accounts = accounts

    def decide(self, event: AnyEvent, store: StateStore) -> tuple[Decision, list[tuple[StateKey, array[float]]]]:
        return self.engine.decide(event, store, gather_inputs(event, self.enrichers, self.accounts))


def customer_message(action: Action, parts: list[Text], access: bool = False) -> Text:
    """Plain words for the customer: what looked abnormal and what to do now. Never a threshold."""
    steps = ACCESS_NEXT_STEP if access else NEXT_STEP
    if action == "allow":
        return steps["allow"]
    if not parts:
        parts = [Text("本笔交易与您平时的习惯不符", "this transaction does not match your usual activity")]
    why = Text("；".join(p.zh for p in parts) + "。", "; ".join(p.en for p in parts) + ".")
    return ABNORMAL.join(why, ("", "")).join(steps[action], ("", " "))


def known_variables(pipeline: FeaturePipeline, detectors: tuple[Detector, ...],
                    enrichers: tuple[Enricher, ...] = ()) -> frozenset[str]:
    names = set(pipeline.feature_names())
    for det in detectors:
        names.update(det.signal_names())
    for enricher in enrichers:
        names.update(enricher.feature_names())
    return frozenset(names)
