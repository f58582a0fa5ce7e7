"""Start a media relay in this process (``start_relay`` → ``RunningRelay``, which can also issue the
tickets its service would)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from dunpai.comms.media import floor as fl
from dunpai.comms.media.relay_ticket import Ticket, issue_ticket
from dunpai.comms.media.relay_ws import MediaRelay, Recorder

TICKET_TTL_MS = 3_600_000


@dataclass
class RunningRelay:
    relay: MediaRelay
    port: int
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def ticket(self, group_id: str, user: str, priority: int, now_ms: int | None = None, *,
               mode: str = "ptt") -> str:
        """What the comms service would issue to an authenticated member of ``group_id`` (or call)."""
        now = self.relay.wall_clock_ms() if now_ms is None else now_ms
        return issue_ticket(self.relay.secret, Ticket(group_id, user, priority, now + TICKET_TTL_MS, mode))

    async def stop(self) -> None:
        await self.relay.stop()


async def start_relay(secret: bytes, *, config: fl.FloorConfig | None = None, record: Recorder | None = None,
                      host: str = "127.0.0.1", port: int = 0,
                      clock_ms: Callable[[], int] = lambda: time.monotonic_ns() // 1_000_000) -> RunningRelay:
    relay = MediaRelay(secret, config or fl.FloorConfig(), clock_ms, record=record)
    return RunningRelay(relay, await relay.start(host, port), host)
