"""``POST /v1/events`` answers within a deadline, even when a dependency is slow or down.

A card switch cannot wait: when the full decision (database, online state store, model) is not
made within ``seconds``, or fails because a dependency is down, the caller gets the stand-in
decision (``risk/fallback.py``: the published rules on the event alone) marked ``degraded: true``
and the reason ``degraded.stand_in``, and the event is still recorded once the dependency returns:

* past the deadline the full decision goes on in the background; when it commits, the event is
  recorded and decided by the full engine (a resend gets that decision, ``duplicate: true``);
* when the decision fails (the database or state store is down), or too many requests are already
  waiting (``MAX_BACKLOG``), the event goes to the spool: ``DATA_DIR/spool/events.jsonl``, one
  JSON line per event, flushed and fsynced before the answer is sent, drained every
  ``retry_s`` seconds, and at start-up, through the normal path (idempotent on the event id,
  so an event that was in fact committed is not recorded twice). A spool that cannot be written
  (the disk is full) still holds the event in memory, up to ``MAX_IN_MEMORY`` events.

Counted in ``/metrics``: ``dunpai_degraded_answers_total{cause="deadline"|"unavailable"|"backlog"}``,
``dunpai_spooled_events`` (waiting to be recorded), ``dunpai_spool_recorded_total``,
``dunpai_spool_write_errors_total`` and ``dunpai_spool_dropped_total``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge

from dunpai.api.batcher import Batcher
from dunpai.core.errors import DunpaiError
from dunpai.risk.decisions.record import Decision
from dunpai.risk.fallback import StandIn
from dunpai.risk.service import RiskService, Submitted

MAX_BACKLOG = 10_000
MAX_IN_MEMORY = 100_000
SPOOL_FILE = "events.jsonl"
DRAINING_FILE = "events.draining.jsonl"
_log = logging.getLogger("dunpai.api.deadline")
Summary = Callable[[Decision, bool], dict[str, Any]]


class Spool:
    """Events acknowledged with a stand-in decision but not yet recorded."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.memory: list[tuple[str, str]] = []  # (tenant, body) the disk could not take
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def add(self, tenant: str, body: bytes) -> bool:
        """Keep one event; False when it could only be kept in memory (or not at all)."""
        text = body.decode("utf-8", "replace")
        if self.directory is not None:
            try:
                line = json.dumps({"tenant": tenant, "body": text}, ensure_ascii=False) + "\n"
                fd = os.open(self.directory / SPOOL_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line.encode())
                    os.fsync(fd)
                finally:
                    os.close(fd)
                return True
            except OSError:
                _log.warning("the event spool cannot be written; keeping the event in memory", exc_info=True)
        if len(self.memory) < MAX_IN_MEMORY:
            self.memory.append((tenant, text))
        return False

    def take(self) -> list[tuple[str, str]]:
        """Everything spooled, moved aside for draining (new events go to a fresh file meanwhile)."""
        out, self.memory = self.memory, []
        if self.directory is None:
            return out
        spool, draining = self.directory / SPOOL_FILE, self.directory / DRAINING_FILE
        if spool.exists() and not draining.exists():
            spool.rename(draining)
        if draining.exists():
            for line in draining.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    item = json.loads(line)
                    out.append((str(item["tenant"]), str(item["body"])))
        return out

    def drained(self) -> None:
        """The items taken are recorded (or given back with ``add``): forget the draining file."""
        if self.directory is not None:
            (self.directory / DRAINING_FILE).unlink(missing_ok=True)

    def size(self) -> int:
        n = len(self.memory)
        if self.directory is not None:
            for name in (SPOOL_FILE, DRAINING_FILE):
                path = self.directory / name
                if path.exists():
                    with path.open("rb") as fh:
                        n += sum(1 for line in fh if line.strip())
        return n


class Deadline:
    def __init__(self, service: RiskService, batcher: Batcher, seconds: float | None,
                 spool_dir: Path | None = None, retry_s: float = 1.0) -> None:
        self.service = service
        self.batcher = batcher
        self.seconds = seconds
        self.retry_s = retry_s
        self.standin = StandIn(service)
        self.spool = Spool(spool_dir)
        registry = service.metrics.registry
        self.degraded = Counter("dunpai_degraded_answers", "Events answered with the stand-in decision, by cause",
                                ["cause"], registry=registry)
        self.spooled = Gauge("dunpai_spooled_events", "Events answered but not yet recorded", registry=registry)
        self.recorded = Counter("dunpai_spool_recorded", "Spooled events recorded once the dependency returned",
                                registry=registry)
        self.write_errors = Counter("dunpai_spool_write_errors", "Spool writes that failed (the event was kept in "
                                    "memory)", registry=registry)
        self.dropped = Counter("dunpai_spool_dropped", "Events that neither the spool file nor memory could keep",
                               registry=registry)
        self._drainer: asyncio.Task[None] | None = None
        self._recover_at_start()

    def _recover_at_start(self) -> None:
        """Record what a previous run spooled (the service just opened, so its database answers)."""
        items = self.spool.take()
        if not items:
            return
        left = 0
        for i in range(0, len(items), self.batcher.max_batch):
            chunk = items[i: i + self.batcher.max_batch]
            try:
                results = self.service.submit_many([(t, b.encode()) for t, b in chunk])
            except Exception:
                _log.warning("spooled events could not be recorded at start-up; retrying later", exc_info=True)
                for tenant, body in chunk:
                    self.spool.add(tenant, body.encode())
                left += len(chunk)
                continue
            self.recorded.inc(sum(1 for r in results if not isinstance(r, DunpaiError)))
        self.spool.drained()
        self.spooled.set(left)

    async def decide(self, tenant: str, body: bytes, summary: Summary) -> dict[str, Any]:
        if self.batcher.backlog >= MAX_BACKLOG:
            return self._stand_in(tenant, body, summary, "backlog", spool=True)
        task = asyncio.ensure_future(self.batcher.submit(tenant, body))
        try:
            result: Submitted = await asyncio.wait_for(asyncio.shield(task), self.seconds)
        except DunpaiError:
            raise  # the event itself is wrong (422, 409): no stand-in for that
        except TimeoutError:
            task.add_done_callback(lambda t: self._late(tenant, body, t))
            return self._stand_in(tenant, body, summary, "deadline", spool=False)
        except Exception:
            _log.warning("deciding failed; answering with the stand-in decision", exc_info=True)
            return self._stand_in(tenant, body, summary, "unavailable", spool=True)
        return summary(result.decision, result.duplicate)

    def _stand_in(self, tenant: str, body: bytes, summary: Summary, cause: str, *, spool: bool) -> dict[str, Any]:
        decision = self.standin.decide(tenant, body)  # a bad event raises InvalidInput here, as anywhere
        if spool:
            self._keep(tenant, body)
        self.degraded.labels(cause).inc()
        return {**summary(decision, False), "degraded": True}

    def _late(self, tenant: str, body: bytes, task: asyncio.Future[Submitted]) -> None:
        """The full decision of an event answered past its deadline has finished."""
        exc = task.exception()
        if exc is not None and not isinstance(exc, DunpaiError):
            self._keep(tenant, body)

    def _keep(self, tenant: str, body: bytes) -> None:
        if not self.spool.add(tenant, body):
            self.write_errors.inc()
            if len(self.spool.memory) >= MAX_IN_MEMORY:
                self.dropped.inc()
        self.spooled.inc()
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """Retry the spool until every event in it is recorded."""
        while True:
            await asyncio.sleep(self.retry_s)
            items = self.spool.take()
            if not items:
                self.spool.drained()
                self.spooled.set(0)
                return
            outcomes = await asyncio.gather(*(self.batcher.submit(t, b.encode()) for t, b in items),
                                            return_exceptions=True)
            failed = [(t, b) for (t, b), o in zip(items, outcomes, strict=True)
                      if isinstance(o, BaseException) and not isinstance(o, DunpaiError)]
            self.recorded.inc(len(items) - len(failed))
            for tenant, body in failed:
                self.spool.add(tenant, body.encode())
            self.spool.drained()
            self.spooled.set(len(failed) + len(self.spool.memory) if self.spool.directory is None else
                             self.spool.size())
            if not failed and self.spool.size() == 0:
                return
