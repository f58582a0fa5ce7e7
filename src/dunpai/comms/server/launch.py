"""Start the comms service in this process (``start_service`` → ``RunningService``) and send its
log to a file. The command line, a deployment's process, the demos, benchmarks and tests all start
it here, with their own arguments (TLS, PostgreSQL, ticketing)."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dunpai.comms.server.service import CommsService, ServiceConfig
from dunpai.comms.server.store import SqlStore
from dunpai.comms.server.ws import CommsServer


@dataclass
class RunningService:
    server: CommsServer
    service: CommsService
    store: SqlStore
    port: int
    host: str = "127.0.0.1"
    tls: bool = False

    @property
    def url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}"

    async def stop(self) -> None:
        await self.server.stop()
        self.store.close()


def attach_log(path: Path) -> logging.Handler:
    """Send the service's log to ``path`` (ids and counts only: no content, no addresses)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("dunpai.comms.server")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler


async def start_service(db_url: str, *, port: int = 0, host: str = "127.0.0.1", schema: str | None = None,
                        clock: Callable[[], float] = time.time, config: ServiceConfig | None = None,
                        ssl_context: ssl.SSLContext | None = None) -> RunningService:
    store = SqlStore.open(db_url, clock(), schema)
    service = CommsService(store, clock, config)
    server = CommsServer(service)
    bound = await server.start(host, port, ssl_context)
    return RunningService(server, service, store, bound, host, ssl_context is not None)
