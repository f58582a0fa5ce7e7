"""The shadow pilot's first step: ``dunpai import`` stores a file's events and labels, replays
them into the tenant's history (and online state) and, for a tenant without a model, puts the
cold-start score in place."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dunpai.risk.decisions.ladder import LADDER
from dunpai.risk.history.build import history_is_current, update_history
from dunpai.risk.history.importer import ImportResult, import_files
from dunpai.risk.history.store import HistoryStore
from dunpai.risk.models.registry import Registry
from dunpai.risk.storage import repository as repo

Progress = Callable[[int], None]


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
