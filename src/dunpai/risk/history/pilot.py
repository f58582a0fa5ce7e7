"""The shadow pilot's first step: ``dunpai import`` stores a file's events and labels, replays
them into the tenant's history (and online state) and, for a tenant without a model, puts the
cold-start score in place.

Storing and replaying overlap: with ``settings``, the rows are converted, validated and committed
by a child process while this process replays each committed batch through the engine — the two
stages on two cores. The child dies with its parent (a kill of the command stops both); what it
committed is in the import's journal, and the next run resumes from there.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import queue
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dunpai.core.errors import DunpaiError, FieldProblem, InvalidInput, StateError
from dunpai.risk.decisions.ladder import LADDER
from dunpai.risk.history.build import history_is_current, update_history
from dunpai.risk.history.importer import ImportResult, import_files
from dunpai.risk.history.store import HistoryStore
from dunpai.risk.models.registry import Registry
from dunpai.risk.storage import repository as repo

CAUSE_CHARS = 300
"""A crashed import names its cause in at most this many characters."""

StageProgress = Callable[[str, int, int], None]


def run_import(service: Any, settings: Any, sources: list[Path], mapping: Path, tenant: str, rejects: Path,
               progress: StageProgress | None = None, budget: float | None = None,
               registry: Path | None = None, **kwargs: Any) -> dict[str, Any]:
    """Import in a child process (opening the data directory as ``settings`` say, as the command
    did) while this one replays the committed events into the tenant's history (and online state).
    With a ``registry`` that has no champion yet, the cold-start score calibrated on the imported
    history becomes the tenant's champion."""
    with service.db.connect() as conn:
        before = repo.last_seq_txn(conn, tenant)
        last_any = repo.last_seq_txn(conn)
    # The history's replay carries the live state forward when both hold this tenant's events up to
    # its last one (the live store has folded the whole log; other tenants' keys are apart).
    in_step = history_is_current(service, tenant, before) and service.store.applied_seq() == last_any
    replay = None if progress is None else (lambda done: progress("replay", done, 0))
    child = _Child(settings, sources, mapping, tenant, rejects, progress, kwargs)
    try:
        meta = update_history(service, tenant, replay, live=in_step, until=child.limits)
        result = child.result()
    finally:
        child.stop()
    out = result.to_dict()
    if not in_step:
        service.recover()
    out["history"] = {"last_seq": meta.last_seq, "parts": len(meta.parts), "live_state": "replayed" if in_step
                      else "recovered"}
    history = HistoryStore(service.data_dir, tenant)
    if result.first_seq is not None:
        frame = history.scan(["seq", "action"])
        new = frame.filter((frame["seq"] >= result.first_seq) & (frame["seq"] <= (result.last_seq or 0)))
        out["actions"] = {LADDER[int(a)]: int(n) for a, n in new["action"].value_counts().iter_rows()}
    if registry is not None and budget is not None and Registry(registry).role("champion") is None:
        from dunpai.risk.history.dataset import load
        from dunpai.risk.history.training import cold_start, cold_start_idle

        scorer, window = cold_start(load(service.db, history), budget)
        out["cold_start"] = Registry(registry).register_cold_start(scorer, window, role="champion")
        if (idle := cold_start_idle(scorer, window)) is not None:
            out["cold_start_idle"] = idle
        service.deploy_model(tenant, Registry(registry).load(out["cold_start"]))
    return out


class _Child:
    """The import's first stage in a child process, reporting each committed batch."""

    def __init__(self, settings: Any, sources: list[Path], mapping: Path, tenant: str, rejects: Path,
                 progress: StageProgress | None, kwargs: dict[str, Any]) -> None:
        ctx = mp.get_context("spawn")
        self.messages: Any = ctx.Queue()
        self.progress = progress
        # The child reads the settings as the command did (file, environment, data directory): secrets
        # come from the environment it inherits, never through a pipe.
        self.process = ctx.Process(target=_import_in_child, daemon=True, args=(
            settings.config_file, settings.data_dir, sources, mapping, tenant, rejects, kwargs, self.messages))
        self.process.start()
        self.outcome: ImportResult | None = None

    def limits(self, after: int) -> Iterator[tuple[int, list[tuple[int, str]]]]:
        """Log positions the replay may read up to, one per committed batch, until the import ends,
        each with the batch's (log position, body) pairs."""
        while True:
            try:
                kind, *body = self.messages.get(timeout=1.0)
            except queue.Empty:
                if not self.process.is_alive():
                    raise StateError("the import process stopped without a word") from None
                continue
            if kind == "batch":
                done, total, last_seq, rows = body
                if self.progress is not None:
                    self.progress("import", done, total)
                if last_seq > after:
                    yield last_seq, rows
            elif kind == "done":
                self.outcome = ImportResult(**body[0])
                if self.outcome.last_seq:
                    yield self.outcome.last_seq, []
                return
            elif kind == "invalid":
                message, problems = body
                raise InvalidInput(message, problems=[FieldProblem(f, p) for f, p in problems])
            else:
                raise StateError(f"the import failed ({body[0]})")

    def result(self) -> ImportResult:
        if self.outcome is None:  # the replay had nothing to wait for: drain the messages
            for _ in self.limits(0):
                pass
        assert self.outcome is not None
        return self.outcome

    def stop(self) -> None:
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when its parent dies (a killed import stops whole)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _import_in_child(config_file: Path | None, data_dir: Path, sources: list[Path], mapping: Path, tenant: str,
                     rejects: Path, kwargs: dict[str, Any], messages: Any) -> None:
    _die_with_parent()
    try:
        from dunpai.core.bulk import bulk_gc
        from dunpai.core.config import load_settings
        from dunpai.core.db import make_engine
        from dunpai.keys import PanTokenizer
        from dunpai.risk.runtime import open_keys

        settings = load_settings(config_file, {"data_dir": data_dir})
        db = make_engine(settings.db_url)
        protector = PanTokenizer(open_keys(settings))
        with bulk_gc():
            result = import_files(db, sources, mapping, tenant, rejects, protector,
                                  progress=lambda *batch: messages.put(("batch", *batch)),
                                  **kwargs)
        messages.put(("done", result.to_dict()))
    except DunpaiError as exc:
        messages.put(("invalid", exc.message, [(p.field, p.problem) for p in exc.problems]))
    except Exception as exc:  # the cause's type and first words, with no long digit run (a card number)
        cause = re.sub(r"\d{8,}", "…", f"{type(exc).__name__}: {exc}".splitlines()[0])[:CAUSE_CHARS]
        messages.put(("crash", cause))
