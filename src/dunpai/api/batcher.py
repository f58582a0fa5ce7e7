"""Group commit for the HTTP API: requests that arrive together are decided and committed together.

A request is queued and a flush is scheduled for the event loop's next turn; every request that
arrived meanwhile joins the same batch (one transaction, one commit). With a single client there
is no added wait; under load, batches form on their own. A response is sent only after its batch
is committed, so an answered event is never lost.

``after`` (set by whoever composes the API, e.g. ``install_cases``) sees every batch's results once
they are committed and before any of its requests is answered: that is how alerts open or join
cases as decisions are made. A failure there is logged and never fails the decisions themselves
(``POST /v1/cases/sync`` catches up).

``threaded=True`` (what a server with a deadline uses, ``api/deadline.py``) decides each batch in
one worker thread instead of on the event loop: a database, state store or model that hangs then
holds up only the decisions, never the loop, so callers can still be answered in time. Requests
arriving while a batch is being decided form the next batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dunpai.core.errors import DunpaiError
from dunpai.risk.service import RiskService, Submitted

After = Callable[[Sequence[tuple[str, Submitted | DunpaiError]]], object]
_log = logging.getLogger("dunpai.api")


class Batcher:
    def __init__(self, service: RiskService, max_batch: int = 256, *, threaded: bool = False) -> None:
        self.service = service
        self.max_batch = max_batch
        self._pending: list[tuple[str, Any, asyncio.Future[Submitted]]] = []
        self._scheduled = False
        self._busy = False
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="dunpai-decide") if threaded else None
        self.after: After | None = None

    @property
    def backlog(self) -> int:
        """Requests waiting for a batch (the one being decided not counted)."""
        return len(self._pending)

    async def submit(self, tenant: str, raw: Any) -> Submitted:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Submitted] = loop.create_future()
        self._pending.append((tenant, raw, future))
        self._schedule(loop)
        return await future

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._scheduled and not self._busy and self._pending:
            self._scheduled = True
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        loop = asyncio.get_running_loop()
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        if not batch:
            return
        if self._executor is None:
            self._schedule(loop)
            try:
                results = self._decide(batch)
            except Exception as exc:  # the whole batch failed (e.g. database down): fail each request
                self._fail(batch, exc)
                return
            self._answer(batch, results)
            return
        self._busy = True
        done = loop.run_in_executor(self._executor, self._decide, batch)
        done.add_done_callback(lambda finished: self._finished(batch, finished, loop))

    def _finished(self, batch: list[tuple[str, Any, asyncio.Future[Submitted]]],
                  finished: asyncio.Future[list[Submitted | DunpaiError]], loop: asyncio.AbstractEventLoop) -> None:
        self._busy = False
        exc = finished.exception()
        if exc is not None:
            self._fail(batch, exc)
        else:
            self._answer(batch, finished.result())
        self._schedule(loop)

    def _decide(self, batch: list[tuple[str, Any, asyncio.Future[Submitted]]]) -> list[Submitted | DunpaiError]:
        results = self.service.submit_many([(tenant, raw) for tenant, raw, _ in batch])
        if self.after is not None:
            try:
                self.after([(tenant, result) for (tenant, _, _), result in zip(batch, results, strict=True)])
            except Exception:  # the decisions stand; the cases catch up on the next sync
                _log.exception("after-decision hook failed")
        return results

    @staticmethod
    def _fail(batch: list[tuple[str, Any, asyncio.Future[Submitted]]], exc: BaseException) -> None:
        for _, _, future in batch:
            if not future.done():
                future.set_exception(exc)

    @staticmethod
    def _answer(batch: list[tuple[str, Any, asyncio.Future[Submitted]]],
                results: list[Submitted | DunpaiError]) -> None:
        for (_, _, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, DunpaiError):
                future.set_exception(result)
            else:
                future.set_result(result)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
