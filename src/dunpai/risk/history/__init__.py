"""A tenant's own history: import it by mapping, replay it through the engine, read it back for
training, evaluation and backtests.

* :func:`run_import` — ``dunpai import``: store the file's events and labels, then replay them.
* :func:`update_history` — bring the history store up to the tenant's latest logged event.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dunpai.risk.decisions.ladder import LADDER
from dunpai.risk.history.build import extend, history_engine, pipeline_signature
from dunpai.risk.history.importer import ImportResult, import_files
from dunpai.risk.history.store import HistoryMeta, HistoryStore
from dunpai.risk.models.registry import Registry
from dunpai.risk.storage import repository as repo

Progress = Callable[[int], None]


def update_history(service: Any, tenant: str, progress: Progress | None = None, live: bool = False) -> HistoryMeta:
    """Replay the tenant's logged events the history has not seen (all of them when the feature
    pipeline changed). ``live``: the new events are also folded into the service's online state
    (the caller knows the live state ends where the history ends)."""
    from dunpai.risk.service import TenantStore

    history = HistoryStore(service.data_dir, tenant)
    version = service.engine(tenant).ruleset.version
    engine = history_engine(service.pipeline, service.ruleset(tenant, version).source, service.known, version)
    meta = history.meta()
    after = meta.last_seq if meta is not None and meta.signature == pipeline_signature(service.pipeline) else 0
    batches = repo.tenant_events(service.db, tenant, after)
    return extend(history, batches, engine, TenantStore(service.store, tenant) if live else None, progress)


def history_is_current(service: Any, tenant: str, upto: int) -> bool:
    """Whether the tenant's history covers exactly its events up to log position ``upto``."""
    meta = HistoryStore(service.data_dir, tenant).meta()
    if meta is None or meta.signature != pipeline_signature(service.pipeline):
        return upto == 0
    return meta.last_seq == upto


def run_import(service: Any, sources: list[Path], mapping: Path, tenant: str, rejects: Path,
               progress: Callable[[str, int, int], None] | None = None, budget: float | None = None,
               registry: Path | None = None, **kwargs: Any) -> dict[str, Any]:
    """Import, then replay the new events into the tenant's history (and online state). With a
    ``registry`` that has no champion yet, the cold-start score calibrated on the imported history
    becomes the tenant's champion (and decides live traffic from the next start of the service)."""
    with service.db.connect() as conn:
        before = repo.last_seq_txn(conn, tenant)
        last_any = repo.last_seq_txn(conn)
    # The history's replay carries the live state forward when both hold this tenant's events up to
    # its last one (the live store has folded the whole log; other tenants' keys are apart).
    in_step = history_is_current(service, tenant, before) and service.store.applied_seq() == last_any

    def stage(name: str) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda done, total: progress(name, done, total))

    result: ImportResult = import_files(service.db, sources, mapping, tenant, rejects, service.protector,
                                        progress=stage("import"), **kwargs)
    out = result.to_dict()
    if result.status == "already_imported" and history_is_current(service, tenant, result.last_seq or 0):
        return out
    replay = stage("replay")
    total = (result.last_seq or before) - before
    meta = update_history(service, tenant, None if replay is None else (lambda done: replay(done, total)),
                          live=in_step)
    if not in_step:
        service.recover()
    out["history"] = {"last_seq": meta.last_seq, "parts": len(meta.parts), "live_state": "replayed" if in_step
                      else "recovered"}
    history = HistoryStore(service.data_dir, tenant)
    if result.first_seq is not None:
        frame = history.scan(["seq", "action"])
        new = frame.filter((frame["seq"] >= result.first_seq) & (frame["seq"] <= (result.last_seq or 0)))
        counts = new["action"].value_counts()
        out["actions"] = {LADDER[int(a)]: int(n) for a, n in counts.iter_rows()}
    if registry is not None and budget is not None and Registry(registry).role("champion") is None:
        from dunpai.risk.history.dataset import load
        from dunpai.risk.history.training import cold_start

        scorer, window = cold_start(load(service.db, history), budget)
        out["cold_start"] = Registry(registry).register_cold_start(scorer, window, role="champion")
        service.deploy_model(tenant, Registry(registry).load(out["cold_start"]))
    return out


__all__ = ["HistoryStore", "run_import", "update_history"]
