"""A loopback deployment for trying the app, its tests and its benchmark: the comms service (SQLite)
and its media relay on 127.0.0.1 in one process, with invite codes.

``python -m dunpai.comms.app.loopback --dir DIR [--port P] [--invites N]`` writes
``DIR/ready.json`` (service URL, relay URL, invite codes) once listening, and stops on SIGTERM or
Ctrl-C. The data stays in ``DIR/comms.db``, so a restart on the same port keeps every account and
every queued (encrypted) message. A production deployment is ``dunpai comms deploy``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Annotated

import typer

from dunpai.comms.media.relay_launch import start_relay
from dunpai.comms.media.ticket_policy import RelayPolicy
from dunpai.comms.server.launch import attach_log, start_service
from dunpai.comms.server.service import ServiceConfig


async def serve(directory: Path, port: int, invites: int, relay_port: int) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret_file = directory / "relay.secret"
    if not secret_file.exists():
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(os.urandom(32).hex())
    secret = bytes.fromhex(secret_file.read_text(encoding="ascii"))
    attach_log(directory / "service.log")
    relay = await start_relay(secret, port=relay_port)
    svc = await start_service(f"sqlite:///{directory / 'comms.db'}", port=port,
                              config=ServiceConfig(relay=RelayPolicy(secret, url=relay.url)))
    ready = directory / "ready.json"
    codes_file = directory / "invites.json"
    codes = json.loads(codes_file.read_text()) if codes_file.exists() else []
    if len(codes) < invites:
        codes += [svc.service.create_invite() for _ in range(invites - len(codes))]
        codes_file.write_text(json.dumps(codes))
        codes_file.chmod(0o600)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ready.write_text(json.dumps({"url": svc.url, "relay": relay.url, "invites": codes, "pid": os.getpid()}))
    try:
        await stop.wait()
    finally:
        ready.unlink(missing_ok=True)
        await svc.stop()
        await relay.stop()


def main(directory: Annotated[Path, typer.Option("--dir", help="数据目录 / data directory (ready.json, comms.db)")],
         port: Annotated[int, typer.Option(help="服务端口（0 为任选） / service port (0: any free one)")] = 0,
         relay_port: Annotated[int, typer.Option(help="中继端口（0 为任选） / relay port (0: any free one)")] = 0,
         invites: Annotated[int, typer.Option(help="邀请码数量 / invite codes to have")] = 4) -> None:
    """本机试用部署：通信服务与媒体中继 / a loopback deployment: the comms service and its media relay."""
    asyncio.run(serve(directory, port, invites, relay_port))


if __name__ == "__main__":
    typer.run(main)
