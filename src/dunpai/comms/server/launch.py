"""Composition root for a loopback deployment: a service on 127.0.0.1 plus in-process users.

Used by the demo, the benchmark and the tests; production wiring (TLS, PostgreSQL, key store) goes
through the same functions with other arguments.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dunpai.comms.client.client import CommsClient
from dunpai.comms.client.state import LocalState
from dunpai.comms.keys_port import DeviceKeys, MemoryKeys
from dunpai.comms.protocol.megolm import RotationPolicy
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


async def new_user(url: str, user: str, invite: str | None, *, device_id: str = "d1",
                   keys: DeviceKeys | None = None, state_path: Path | None = None,
                   clock: Callable[[], float] = time.time, policy: RotationPolicy | None = None) -> CommsClient:
    """Create a device, register it (with an invite for a new user) and return the connected client."""
    client = CommsClient(url, keys or MemoryKeys(), LocalState.new(user, device_id, policy),
                         state_path=state_path, clock=clock)
    await client.connect()
    await client.register(invite)
    return client
