"""The decision engine: features -> detectors -> rules -> model -> one action with its reasons.

Pure: it reads online state through the store but returns the new states instead of writing them,
reads no clock, and gives identical decisions for identical event sequences.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from typing import Protocol

from dunpai.core.i18n import Text
from dunpai.core.ids import derived_id
from dunpai.risk.decisions.ladder import ABNORMAL, ACCESS_NEXT_STEP, NEXT_STEP, RANK, Action, stronger
from dunpai.risk.decisions.record import Contribution, Decision
from dunpai.risk.detectors import DEFAULT_DETECTORS, Detector
from dunpai.risk.detectors.base import SignalSpec, run_signals
from dunpai.risk.events.schemas import AnyEvent, CardNotPresent, CardPresent, MobileTransfer
from dunpai.risk.features.pipeline import FeaturePipeline
from dunpai.risk.features.store import StateKey, StateStore
from dunpai.risk.rules.compiler import CompiledRuleset

ACCOUNT_FROZEN = "account.frozen"
ACCOUNT_RESTRICTED = "account.restricted"
_ACCOUNT_TEXT = {
    ACCOUNT_FROZEN: Text("账户已被冻结", "the account is frozen"),
    ACCOUNT_RESTRICTED: Text("账户非柜面业务已受限", "non-counter services on the account are restricted"),
}
_MONEY_EVENTS = frozenset({"card_present", "card_not_present", "mobile_transfer"})
_ACCESS_EVENTS = frozenset({"login", "device"})


class Scorer(Protocol):
    """A loaded model: probability of fraud and per-decision contributions (SHAP)."""

    version: str

    def predict(self, features: Mapping[str, float]) -> float: ...

    def contributions(self, features: Mapping[str, float], top: int) -> list[tuple[str, float]]: ...

    def reason_for(self, feature: str) -> str: ...


class Enricher(Protocol):
    """Adds features that need a look-up outside online state: the mobile-shield verification of a
    transfer, whether a card is on the exposed list of a skimmed terminal, ... Names are declared up
    front so that rules can be validated against them."""

    def feature_names(self) -> tuple[str, ...]: ...

    def enrich(self, event: AnyEvent, t: float) -> Mapping[str, float]: ...


class AccountStatus(Protocol):
    """Current restriction of an account or card (set by analysts with dual control):
    ``active``, ``restricted`` or ``frozen``."""

    def status(self, account_id: str) -> str: ...

    def card_status(self, card_id: str) -> str: ...


class Engine:
    def __init__(
        self,
        ruleset: CompiledRuleset,
        pipeline: FeaturePipeline | None = None,
        detectors: tuple[Detector, ...] = DEFAULT_DETECTORS,
        model: Scorer | None = None,
        accounts: AccountStatus | None = None,
        enrichers: tuple[Enricher, ...] = (),
        tenant: str = "default",
    ) -> None:
        self.pipeline = pipeline or FeaturePipeline()
        self.detectors = detectors
        self.ruleset = ruleset
        self.model = model
        self.accounts = accounts
        self.enrichers = enrichers
        self.tenant = tenant
        self._available: dict[tuple[str, ...], frozenset[str]] = {}
        self._signals: dict[str, tuple[SignalSpec, ...]] = {}  # every detector's signals, by event type

    def known_variables(self) -> frozenset[str]:
        return known_variables(self.pipeline, self.detectors, self.enrichers)

    def decide(self, event: AnyEvent, store: StateStore) -> tuple[Decision, list[tuple[StateKey, array[float]]]]:
        t, f, new_states = self.pipeline.compute(event, store)
        etype = event.type
        for enricher in self.enrichers:
            f.update(enricher.enrich(event, t))
        fired: list[str] = []
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
        score = 100.0 * (1.0 - rule_score)
        hits.sort(key=lambda r: (-RANK[r.action], -r.score, r.id))
        reasons = list(dict.fromkeys(r.reason for r in hits))
        message_parts = list(dict.fromkeys(Text(r.customer_message.zh, r.customer_message.en) for r in hits))[:2]
        probability = contributions = None
        if self.model is not None and etype in _MONEY_EVENTS:
            probability = self.model.predict(f)
            score = max(score, 100.0 * probability)
            action = stronger(action, self._model_action(probability))
        if self.accounts is not None and isinstance(event, CardPresent | CardNotPresent | MobileTransfer):
            card_id = event.card_id if isinstance(event, CardPresent | CardNotPresent) else None
            status = _strictest(self.accounts.status(event.account_id), self.accounts.card_status(card_id or ""))
            if status in ("frozen", "restricted"):
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


def _strictest(a: str, b: str) -> str:
    order = {"active": 0, "restricted": 1, "frozen": 2}
    return a if order.get(a, 0) >= order.get(b, 0) else b


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
