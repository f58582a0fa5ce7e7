"""Group commit for the HTTP API: requests that arrive together are decided and committed together.

A request is queued and a flush is scheduled for the event loop's next turn; every request that
arrived meanwhile joins the same batch (one transaction, one commit). With a single client there
is no added wait; under load, batches form on their own. A response is sent only after its batch
is committed, so an answered event is never lost.

``after`` (set by whoever composes the API, e.g. ``install_cases``) sees every batch's results once
they are committed and before any of its requests is answered: that is how alerts open or join
cases as decisions are made. A failure there is logged and never fails the decisions themselves
(``POST /v1/cases/sync`` catches up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from dunpai.core.errors import DunpaiError
from dunpai.risk.service import RiskService, Submitted

After = Callable[[Sequence[tuple[str, Submitted | DunpaiError]]], object]
_log = logging.getLogger("dunpai.api")


class Batcher:
    def __init__(self, service: RiskService, max_batch: int = 256) -> None:
        self.service = service
        self.max_batch = max_batch
        self._pending: list[tuple[str, Any, asyncio.Future[Submitted]]] = []
        self._scheduled = False
        self.after: After | None = None

    async def submit(self, tenant: str, raw: Any) -> Submitted:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Submitted] = loop.create_future()
        self._pending.append((tenant, raw, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        self._scheduled = bool(self._pending)
        if self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        try:
            results = self.service.submit_many([(tenant, raw) for tenant, raw, _ in batch])
        except Exception as exc:  # the whole batch failed (e.g. database down): fail each request
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        if self.after is not None:
            try:
                self.after([(tenant, result) for (tenant, _, _), result in zip(batch, results, strict=True)])
            except Exception:  # the decisions stand; the cases catch up on the next sync
                _log.exception("after-decision hook failed")
        for (_, _, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, DunpaiError):
                future.set_exception(result)
            else:
                future.set_result(result)
