"""A service's second listener, for the bridge only: mutual TLS with pinned bridge certificates.

It shares the service and the delivery hub with the main listener, so a message the bridge queues
for a user connected to the main listener is pushed at once (and vice versa).
"""

from __future__ import annotations

from pathlib import Path

from dunpai.comms.bridge.certs import server_context
from dunpai.comms.server.launch import RunningService
from dunpai.comms.server.ws import CommsServer


async def start_bridge_listener(svc: RunningService, cert: Path, key: Path, pinned_bridges: list[Path], *,
                                host: str = "127.0.0.1", port: int = 0) -> tuple[CommsServer, int]:
    if not pinned_bridges:
        raise ValueError("a bridge listener needs at least one pinned bridge certificate")
    server = CommsServer(svc.service)
    server.hub = svc.server.hub
    bound = await server.start(host, port, server_context(cert, key, pinned_bridges))
    return server, bound
