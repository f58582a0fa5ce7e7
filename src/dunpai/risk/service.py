"""The risk decision service: validate -> de-duplicate -> gather inputs -> decide -> persist -> update
online state.

This is the only place that orders I/O around the pure engine: inside the batch's transaction it
gathers each event's outside inputs (the mobile-shield verification, whose nonce claim joins the
transaction; exposure lists; account freezes) and hands them to ``Engine.decide``, which does no
I/O. An event is *accepted* when its log row and its decision are committed together; online state
is written after that commit, and after a crash the log is replayed from the store's
``applied_seq`` so no accepted event is lost or counted twice. With the shared state store
(``state.backend: database``, several workers) the batch instead locks its entities' state rows and
writes them in the same transaction (``risk/cluster/store.py``). Resending an event id returns the
original decision.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import Engine as DbEngine
from sqlalchemy.exc import IntegrityError, OperationalError

from dunpai.audit import AuditPort
from dunpai.core.errors import (
    Conflict,
    DunpaiError,
    FieldProblem,
    InvalidInput,
    InvalidRuleset,
    NotFound,
    StateError,
)
from dunpai.risk.cluster.keys import state_keys
from dunpai.risk.cluster.store import LockedStates, SqlStateStore
from dunpai.risk.decisions.engine import Engine, Scorer, known_variables
from dunpai.risk.decisions.inputs import AccountStatus, Enricher, gather_inputs
from dunpai.risk.decisions.record import Decision
from dunpai.risk.detectors import DEFAULT_DETECTORS
from dunpai.risk.events.ingest import PanProtector, event_to_json, parse_event
from dunpai.risk.events.schemas import AnyEvent, Label
from dunpai.risk.features.entities import label_category
from dunpai.risk.features.pipeline import FeaturePipeline
from dunpai.risk.features.store import MemoryStore, StateKey, StateStore
from dunpai.risk.rules.compiler import CompiledRuleset
from dunpai.risk.storage import repository as repo

DEFAULT_RULESET = Path(__file__).resolve().parent / "rules" / "default.yaml"
_RETRIES = 5  # a batch that PostgreSQL chose as a deadlock's victim is decided again, this many times
_LABEL_FILL = ("card_id", "account_id", "customer_id", "terminal_id", "merchant_id", "device_id", "payee_id", "ip")
PIPELINE_MARK: StateKey = ("__meta__", "pipeline")
"""The state store's record of which feature pipeline built it (never a tenant's key: those are
``tenant/kind``)."""


def pipeline_signature(pipeline: FeaturePipeline) -> float:
    """Which steps, with which state layouts, build online state: a pipeline with other steps or a
    changed layout cannot read the state another one wrote (as an exact double)."""
    spec = "|".join(f"{type(s).__qualname__}:{s.name}:{s.layout.size}" for s in pipeline.steps)
    return float(zlib.crc32(spec.encode()))


class _Overlay:
    """Pending states of a batch, layered over the store until the batch is committed."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.pending: dict[StateKey, array[float]] = {}

    def get_many(self, keys: Sequence[StateKey]) -> list[array[float] | None]:
        found = [self.pending.get(k) for k in keys]
        if all(s is not None for s in found):
            return found
        below = self.inner.get_many(keys)
        return [s if s is not None else b for s, b in zip(found, below, strict=True)]

    def put_many(self, items: Iterable[tuple[StateKey, array[float]]], applied_seq: int) -> None:
        self.pending.update(items)

    def flush(self, applied_seq: int) -> None:
        self.inner.put_many(self.pending.items(), applied_seq)

    def applied_seq(self) -> int:
        return self.inner.applied_seq()

    def count(self, kind: str) -> int:
        return self.inner.count(kind)

    def clear(self) -> None:
        self.pending.clear()

    def close(self) -> None:
        pass


class TenantStore:
    """A view of a shared state store in which every key kind is prefixed by the tenant."""

    def __init__(self, inner: StateStore, tenant: str) -> None:
        self.inner = inner
        self.prefix = tenant + "/"

    def get_many(self, keys: Sequence[StateKey]) -> list[array[float] | None]:
        p = self.prefix
        return self.inner.get_many([(p + kind, key) for kind, key in keys])

    def put_many(self, items: Iterable[tuple[StateKey, array[float]]], applied_seq: int) -> None:
        p = self.prefix
        self.inner.put_many([((p + kind, key), s) for (kind, key), s in items], applied_seq)

    def applied_seq(self) -> int:
        return self.inner.applied_seq()

    def count(self, kind: str) -> int:
        return self.inner.count(self.prefix + kind)

    def clear(self) -> None:
        raise StateError("clear the shared store, not a tenant view")

    def close(self) -> None:
        pass


@dataclass
class Submitted:
    decision: Decision
    duplicate: bool
    masked_card: str | None = None


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.decisions = Counter("dunpai_decisions", "Decisions made, by action", ["action"], registry=self.registry)
        self.duplicates = Counter("dunpai_duplicate_events", "Events resent with a known id", registry=self.registry)
        self.rejected = Counter("dunpai_rejected_events", "Events rejected by validation", registry=self.registry)
        self.rule_errors = Counter("dunpai_rule_errors", "Rule evaluations that errored", ["rule"],
                                   registry=self.registry)
        self.model_info = Gauge("dunpai_model_info", "The model scoring each tenant's live traffic (1)",
                                ["tenant", "version", "kind"], registry=self.registry)
        self.latency = Histogram("dunpai_decision_seconds", "Time to decide and persist one event",
                                 buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5),
                                 registry=self.registry)


class RiskService:
    keys: Any = None  # the key store, when the composition root opened one
    data_dir: Path | None = None  # the data directory, when the composition root has one (history)

    def __init__(
        self,
        db: DbEngine,
        store: StateStore,
        *,
        protector: PanProtector | None = None,
        model: Scorer | None = None,
        accounts: AccountStatus | None = None,
        enrichers: tuple[Enricher, ...] = (),
        audit: AuditPort | None = None,
        snapshot_every: int = 50_000,
        clock: Callable[[], float] = time.time,
        max_future_skew: float | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.protector = protector
        self.models: dict[str, Scorer] = {}
        if model is not None:
            self.models["default"] = model
        self.accounts = accounts
        self.enrichers = enrichers
        self.audit = audit
        self.snapshot_every = snapshot_every
        self.clock = clock
        self.max_future_skew = max_future_skew  # seconds an event may be dated ahead of ``clock`` (None: any)
        self.pipeline = FeaturePipeline()
        self.known = known_variables(self.pipeline, DEFAULT_DETECTORS, enrichers)
        self.metrics = Metrics()
        self._engines: dict[str, Engine] = {}
        self._accounts: dict[str, AccountStatus | None] = {}
        self._since_snapshot = 0
        # Decisions are serial: online state is read, updated and written back per event. HTTP batches
        # come from the event loop, console look-ups from worker threads.
        self._lock = threading.RLock()

    def deploy_model(self, tenant: str, model: Scorer | None) -> None:
        """Score ``tenant``'s events with ``model`` from the next event on (``None``: rules alone).
        Every model reads the one feature pipeline, so online state stays as it is."""
        with self._lock:
            if model is None:
                self.models.pop(tenant, None)
            else:
                self.models[tenant] = model
            self._engines.pop(tenant, None)
            self.metrics.model_info.clear()
            for name, m in self.models.items():
                self.metrics.model_info.labels(name, m.version, getattr(m, "kind", "model")).set(1)

    # -- decisions ---------------------------------------------------------------------------------

    def submit(self, tenant: str, raw: Any) -> Submitted:
        """Decide one raw event (dict or JSON bytes). Raises ``InvalidInput`` naming bad fields."""
        result = self.submit_many([(tenant, raw)])[0]
        if isinstance(result, DunpaiError):
            raise result
        return result

    def submit_many(self, items: Sequence[tuple[str, Any]]) -> list[Submitted | DunpaiError]:
        """Decide a batch of (tenant, raw event) in order, committing them in one transaction (group
        commit). Each item gets its decision or its own error; a bad item never affects the others.
        Later events of the batch see the online state left by earlier ones."""
        with self._lock:
            return self._submit_many(items)

    def _submit_many(self, items: Sequence[tuple[str, Any]]) -> list[Submitted | DunpaiError]:
        if not isinstance(self.store, SqlStateStore):
            return self._decide_batch(items)
        for attempt in range(_RETRIES):
            try:
                return self._decide_batch(items)
            except OperationalError as exc:  # only a lock cycle or a serialisation failure is retried
                if getattr(exc.orig, "sqlstate", None) not in ("40P01", "40001") or attempt == _RETRIES - 1:
                    raise
                time.sleep(random.uniform(0, 0.005 * 2 ** attempt))  # the batches that met do not meet again
        raise StateError("not processed")  # pragma: no cover - the loop returns or raises

    def _decide_batch(self, items: Sequence[tuple[str, Any]]) -> list[Submitted | DunpaiError]:
        """One try at a batch. With the shared state store (several workers) the batch locks its
        entities' state rows and writes their new states inside its own transaction; otherwise the
        states go to the store after the commit."""
        started = time.perf_counter()
        out: list[Submitted | DunpaiError | None] = [None] * len(items)
        parsed = []
        for i, (tenant, raw) in enumerate(items):
            try:
                event, masked = parse_event(raw, self.protector)
                self.check_event_time(event)
            except DunpaiError as exc:
                self.metrics.rejected.inc()
                out[i] = exc
                continue
            body = event_to_json(event)
            parsed.append((i, tenant, event, masked, body, hashlib.sha256(body.encode()).hexdigest()))
        # Engines first: installing a tenant's default ruleset writes, which must not wait on the batch.
        engines = {tenant: self.engine(tenant) for _, tenant, *_rest in parsed}
        overlay = _Overlay(self.store)
        shared = self.store if isinstance(self.store, SqlStateStore) else None
        accepted: list[tuple[int, Decision, str | None]] = []
        in_batch: dict[tuple[str, str], tuple[str, Decision, str]] = {}
        rows = []
        try:
            with self.db.begin() as conn:
                batch: _Overlay | LockedStates = overlay if shared is None else shared.in_transaction(conn)
                # Workers sharing the state look no ids up first (on PostgreSQL a look-up is a round trip):
                # a batch holding an id already logged fails on the log's unique id, settled event by event.
                logged = {} if shared is not None else self._logged(conn, parsed)
                self._fill_labels(conn, parsed, logged)  # before the lock: a label's entities are known
                if isinstance(batch, LockedStates):
                    batch.lock((f"{tenant}/{kind}", key) for _, tenant, event, *_rest in parsed
                               if (tenant, event.event_id) not in logged
                               for kind, key in state_keys(self.pipeline, event))
                for i, tenant, event, masked, body, digest in parsed:
                    key = (tenant, event.event_id)
                    if key in in_batch:
                        first_digest, first, _ = in_batch[key]
                        out[i] = (Submitted(first, duplicate=True) if first_digest == digest else
                                  Conflict("event_id was already used for a different event", event_id=key[1]))
                        continue
                    known = logged.get(key)
                    if known is not None:
                        try:
                            out[i] = self._duplicate(conn, tenant, known, digest)
                        except DunpaiError as exc:
                            out[i] = exc
                        continue
                    view = TenantStore(batch, tenant)
                    inputs = gather_inputs(event, self.enrichers, self.accounts_of(tenant), conn)
                    decision, new_states = engines[tenant].decide(event, view, inputs)
                    view.put_many(new_states, 0)
                    in_batch[key] = (digest, decision, body)
                    rows.append(repo.EventRow(tenant, event.type, event.event_time.timestamp(), body, digest, masked,
                                              self.clock(), decision))
                    accepted.append((i, decision, masked))
                states = batch.pending_json() if isinstance(batch, LockedStates) and rows else None
                seqs = repo.insert_events_and_decisions_txn(conn, rows, states)
                if isinstance(batch, LockedStates) and states is None:
                    batch.write()
        except IntegrityError:
            if len(items) > 1:  # a concurrent worker took one of these ids: settle them one by one
                return [self._submit_many([(tenant, raw)])[0] for tenant, raw in items]
            return [self._after_race(parsed[0][1], parsed[0][2].event_id, parsed[0][5])]
        if seqs and shared is None:
            overlay.flush(max(seqs))
        for i, decision, masked in accepted:
            out[i] = Submitted(decision, duplicate=False, masked_card=masked)
            self._after_accept(decision, started)
        return [r if r is not None else StateError("not processed") for r in out]

    def check_event_time(self, event: AnyEvent) -> None:
        """A far-future ``event_time`` would move every entity's reference time ahead and make each
        later, real use look late (windows would not count it): refuse it, naming the field."""
        if self.max_future_skew is None:
            return
        ahead = event.event_time.timestamp() - self.clock()
        if ahead > self.max_future_skew:
            raise InvalidInput("event_time is in the future", problems=[FieldProblem(
                "event_time", f"is {ahead:.0f} s after the service clock; at most {self.max_future_skew:.0f} s "
                "allowed (events.max_future_skew_s)")])

    def _after_race(self, tenant: str, event_id: str, digest: str) -> Submitted | DunpaiError:
        """Another worker accepted this event id between our check and our insert."""
        with self.db.connect() as conn:
            known = repo.find_event_txn(conn, tenant, event_id)
            if known is None:
                raise StateError("event insert failed without a conflicting event", event_id=event_id)
            try:
                return self._duplicate(conn, tenant, known, digest)
            except DunpaiError as exc:
                return exc

    def _duplicate(self, conn: Any, tenant: str, known: repo.StoredEvent, digest: str) -> Submitted:
        if known.body_sha256 != digest:
            raise Conflict("event_id was already used for a different event", event_id=known.event_id)
        decision = repo.decision_by_event_txn(conn, tenant, known.event_id)
        if decision is None:  # pragma: no cover - event and decision are written in one transaction
            raise StateError("event logged without a decision", event_id=known.event_id)
        self.metrics.duplicates.inc()
        return Submitted(decision, duplicate=True)

    @staticmethod
    def _logged(conn: Any, parsed: list[Any]) -> dict[tuple[str, str], repo.StoredEvent]:
        """The batch's events already in the log, by (tenant, event id)."""
        wanted: dict[str, list[str]] = {}
        for _, tenant, event, *_rest in parsed:
            wanted.setdefault(tenant, []).append(event.event_id)
        return {(tenant, eid): stored for tenant, ids in wanted.items()
                for eid, stored in repo.find_events_txn(conn, tenant, ids).items()}

    def _fill_labels(self, conn: Any, parsed: list[Any], logged: Mapping[tuple[str, str], Any]) -> None:
        """Complete, in place, each new label of the batch from the event it labels (stored, or earlier in
        the batch), so that the batch can lock every entity it will touch at once, in key order."""
        bodies: dict[tuple[str, str], str] = {}
        for n, (i, tenant, event, masked, body, digest) in enumerate(parsed):
            key = (tenant, event.event_id)
            if key in logged or key in bodies:
                continue
            if isinstance(event, Label):
                parsed[n] = (i, tenant, self._fill_label(conn, tenant, event, bodies), masked, body, digest)
            bodies[key] = body

    def _fill_label(self, conn: Any, tenant: str, label: Label, bodies: Mapping[tuple[str, str], str]) -> Label:
        """Complete a label's entity keys from the event it labels, so label features can key it."""
        pending = bodies.get((tenant, label.target_event_id))
        target = json.loads(pending) if pending is not None else repo.event_body_txn(
            conn, tenant, label.target_event_id)
        if target is None:
            return label
        updates: dict[str, Any] = {k: target[k] for k in _LABEL_FILL if getattr(label, k) is None and k in target}
        if label.category is None and (category := label_category(target)) is not None:
            updates["category"] = category
        texts = {k: v for k, v in (target.get("attributes") or {}).items() if isinstance(v, str)}
        if label.attributes is None and texts:
            updates["attributes"] = texts
        if label.target_event_time is None:
            updates["target_event_time"] = target["event_time"]
        return Label.model_validate({**label.model_dump(), **updates}) if updates else label

    def _after_accept(self, decision: Decision, started: float) -> None:
        self.metrics.decisions.labels(decision.action).inc()
        for r in decision.rule_results:
            if r.outcome == "error":
                self.metrics.rule_errors.labels(r.rule_id).inc()
        self.metrics.latency.observe(time.perf_counter() - started)
        self._since_snapshot += 1
        if self._since_snapshot >= self.snapshot_every and isinstance(self.store, MemoryStore):
            self.store.snapshot()
            self._since_snapshot = 0

    def decision(self, tenant: str, decision_id: str) -> Decision:
        with self.db.connect() as conn:
            found = repo.decision_by_id_txn(conn, tenant, decision_id)
        if found is None:
            raise NotFound("no such decision", decision_id=decision_id)
        return found

    def explain(self, tenant: str, decision_id: str) -> dict[str, Any]:
        from dunpai.risk.decisions.explain import explain

        decision = self.decision(tenant, decision_id)
        return explain(decision, self._ruleset_for(tenant, decision.ruleset_version))

    # -- online state --------------------------------------------------------------------------------

    def recover(self, progress: Callable[[int], None] | None = None) -> int:
        """Fold every logged event the store has not seen into online state. Returns how many. State
        built by another feature pipeline (a model deployed or withdrawn since, a step's layout
        changed by an upgrade) is rebuilt from the whole log, so features always have their history.
        With the shared store one worker at a time does this; the others then find it done."""
        if isinstance(self.store, SqlStateStore):
            with self.store.exclusive("dunpai.risk.recover"):
                return self._recover(progress)
        return self._recover(progress)

    def _recover(self, progress: Callable[[int], None] | None) -> int:
        from dunpai.risk.features.pipeline import apply_only

        mark = self.store.get_many([PIPELINE_MARK])[0]
        built_by = mark[0] if mark is not None else pipeline_signature(FeaturePipeline())
        signature = pipeline_signature(self.pipeline)
        if built_by != signature:
            self.store.clear()
        n = 0
        shared = self.store if isinstance(self.store, SqlStateStore) else None
        if shared is not None and shared.complete():
            # States commit with their events: nothing to fold. (Folding "what came after the last
            # seq" here would count again what other workers commit meanwhile.)
            return 0
        target: StateStore = self.store if shared is None else _Overlay(shared)  # shared: one write at the end
        for seq, tenant, body in repo.events_after(self.db, self.store.applied_seq()):
            event, _ = parse_event(body)
            apply_only(self.pipeline, event, TenantStore(target, tenant), seq)
            n += 1
            if progress is not None:
                progress(n)
        if isinstance(target, _Overlay) and shared is not None:
            target.flush(0)
            shared.mark_complete()
        self.store.put_many([(PIPELINE_MARK, array("d", [signature]))], self.store.applied_seq())
        return n

    def close(self) -> None:
        self.store.close()

    # -- rulesets ------------------------------------------------------------------------------------

    def engine(self, tenant: str) -> Engine:
        engine = self._engines.get(tenant)
        if engine is None:
            engine = Engine(self._published(tenant), pipeline=self.pipeline, model=self.models.get(tenant),
                            tenant=tenant)
            self._engines[tenant] = engine
        return engine

    def accounts_of(self, tenant: str) -> AccountStatus | None:
        """The account-status port seen from ``tenant`` (a freeze in one bank never touches
        another's account)."""
        try:
            return self._accounts[tenant]
        except KeyError:
            accounts = self.accounts
            for_tenant = getattr(accounts, "for_tenant", None)
            found = self._accounts[tenant] = for_tenant(tenant) if for_tenant is not None else accounts
            return found

    def loaded_ruleset(self, tenant: str) -> CompiledRuleset | None:
        """The ruleset deciding ``tenant``'s events as this process last loaded it, without touching
        the database (``None`` before its first event): the stand-in decision reads it."""
        engine = self._engines.get(tenant)
        return engine.ruleset if engine is not None else None

    def _published(self, tenant: str) -> CompiledRuleset:
        try:
            with self.db.begin() as conn:
                row = repo.published_ruleset_txn(conn, tenant)
                if row is not None:
                    return CompiledRuleset.from_yaml(row.source, self.known, row.version)
                source = DEFAULT_RULESET.read_text(encoding="utf-8")
                compiled = CompiledRuleset.from_yaml(source, self.known)
                now = self.clock()
                repo.insert_ruleset_txn(conn, repo.RulesetRow(
                    tenant, compiled.version, compiled.spec.name, "published", source, "system", now, now))
        except IntegrityError:  # another worker installed the default first: use it
            with self.db.connect() as conn:
                row = repo.published_ruleset_txn(conn, tenant)
            if row is None:
                raise
            return CompiledRuleset.from_yaml(row.source, self.known, row.version)
        self._audit("system", "ruleset.install_default", f"{tenant}/ruleset/{compiled.version}",
                    {"rules": len(compiled.rules)})
        return compiled

    def _ruleset_for(self, tenant: str, version: str) -> CompiledRuleset | None:
        with self.db.connect() as conn:
            row = repo.ruleset_txn(conn, tenant, version)
        return CompiledRuleset.from_yaml(row.source, self.known, row.version) if row else None

    def validate_ruleset(self, source: str) -> CompiledRuleset:
        """Compile without storing; raises ``InvalidRuleset`` naming the rule and position."""
        return CompiledRuleset.from_yaml(source, self.known)

    def upload_ruleset(self, tenant: str, source: str, actor: str) -> repo.RulesetRow:
        compiled = self.validate_ruleset(source)
        with self.db.begin() as conn:
            existing = repo.ruleset_txn(conn, tenant, compiled.version)
            if existing is not None:
                return existing
            row = repo.RulesetRow(tenant, compiled.version, compiled.spec.name, "draft", source, actor,
                                  self.clock(), None)
            repo.insert_ruleset_txn(conn, row)
        self._audit(actor, "ruleset.upload", f"{tenant}/ruleset/{row.version}", {"rules": len(compiled.rules)})
        return row

    def _audit(self, actor: str, action: str, subject: str, details: dict[str, Any]) -> None:
        if self.audit is not None:
            self.audit.append(actor, action, subject, details)

    def rulesets(self, tenant: str) -> list[repo.RulesetRow]:
        self.engine(tenant)  # make sure the default is installed
        with self.db.connect() as conn:
            return repo.rulesets_txn(conn, tenant)

    def ruleset(self, tenant: str, version: str) -> repo.RulesetRow:
        with self.db.connect() as conn:
            row = repo.ruleset_txn(conn, tenant, version)
        if row is None:
            raise NotFound("no such ruleset", version=version)
        return row

    def publish_ruleset(self, tenant: str, version: str, actor: str) -> repo.RulesetRow:
        """Publish a draft: decisions use it from the next event on, without a restart."""
        row = self.ruleset(tenant, version)
        if row.status == "published":
            raise StateError("ruleset is already published", version=version)
        try:
            compiled = CompiledRuleset.from_yaml(row.source, self.known, row.version)
        except InvalidRuleset:
            raise StateError("stored ruleset no longer validates against this engine", version=version) from None
        with self.db.begin() as conn:
            repo.publish_ruleset_txn(conn, tenant, version, self.clock())
        self.engine(tenant).ruleset = compiled
        self._audit(actor, "ruleset.publish", f"{tenant}/ruleset/{version}", {"name": compiled.spec.name})
        return self.ruleset(tenant, version)
