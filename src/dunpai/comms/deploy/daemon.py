"""The deployment's service, as its process runs it (``python -m dunpai.cli.comms.daemon --dir DIR``,
started in the background by ``dunpai comms deploy``): writes ``run/ready.json`` (pid, url, ports,
relay URL) once listening and stops cleanly on SIGTERM. It runs the deployment's media relay
(push-to-talk, calls) next to the service, with the ticket secret from ``secrets/relay.secret``;
the service issues relay tickets to its members with the same secret and tells them the relay's
URL. The secret is read from the file only, never logged or passed on a command line. With
``bridge_port`` set it also listens for the bridge on a second port that demands one of the pinned
bridge certificates (mutual TLS); both listeners share one service and one delivery hub, and the
bridge's account may ask for relay tickets on behalf of members across the bridge.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

from dunpai.comms.bridge.certs import server_context
from dunpai.comms.bridge.listener import start_bridge_listener
from dunpai.comms.bridge.relay import BRIDGE_USER
from dunpai.comms.deploy.paths import Paths
from dunpai.comms.errors import DeployError
from dunpai.comms.media.relay_launch import start_relay
from dunpai.comms.media.ticket_policy import RelayPolicy
from dunpai.comms.server.launch import attach_log, start_service
from dunpai.comms.server.service import ServiceConfig
from dunpai.comms.server.ws import CommsServer
from dunpai.core.config import DeploymentSettings


def relay_secret(p: Paths) -> bytes:
    try:
        secret = bytes.fromhex(p.relay_secret.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise DeployError(f"{p.relay_secret.name}: missing or not hex; run deploy again") from exc
    if len(secret) < 32:
        raise DeployError(f"{p.relay_secret.name}: the relay secret must be at least 32 bytes")
    return secret


async def serve(directory: Path, cfg: DeploymentSettings) -> None:
    """Run the deployment in ``directory`` until SIGTERM or SIGINT."""
    p = Paths(directory)
    p.logs.mkdir(parents=True, exist_ok=True)
    p.run.mkdir(parents=True, exist_ok=True)
    attach_log(p.service_log)
    ctx = None if cfg.loopback else server_context(p.tls_cert, p.tls_key, [])
    secret = relay_secret(p)
    relay = await start_relay(secret, host=cfg.host, port=cfg.relay_port)
    # with a bridge port, the bridge's account may ask for relay tickets on behalf of members across it
    delegates = (BRIDGE_USER,) if cfg.bridge_port else ()
    config = ServiceConfig(relay=RelayPolicy(secret, url=relay.url, delegates=delegates))
    try:
        svc = await start_service(cfg.db, host=cfg.host, port=cfg.port, ssl_context=ctx, schema=cfg.db_schema,
                                  config=config)
    except BaseException:
        await relay.stop()
        raise
    bridge: CommsServer | None = None
    bridge_port = 0
    pinned = sorted(p.bridge_clients.glob("*.pem")) if p.bridge_clients.exists() else []
    if cfg.bridge_port and pinned:
        bridge, bridge_port = await start_bridge_listener(svc, p.tls_cert, p.tls_key, pinned, host=cfg.host,
                                                          port=cfg.bridge_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ready = {"pid": os.getpid(), "url": svc.url, "port": svc.port, "bridge_port": bridge_port,
             "relay_url": relay.url}
    tmp = p.ready.with_suffix(".tmp")
    tmp.write_text(json.dumps(ready), encoding="utf-8")
    tmp.replace(p.ready)
    try:
        await stop.wait()
    finally:
        if bridge is not None:
            await bridge.stop()
        await svc.stop()
        await relay.stop()
        p.ready.unlink(missing_ok=True)
