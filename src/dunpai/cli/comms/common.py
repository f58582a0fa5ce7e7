"""What the ``dunpai comms`` commands share: the device directory option, running a client
session, and showing a received message."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.markup import escape

from dunpai.cli.common import console, settings, terminal_prompt
from dunpai.comms.client.client import CommsClient, Received
from dunpai.comms.client.home import open_client
from dunpai.comms.errors import CommsError
from dunpai.core.config import Settings
from dunpai.core.errors import DunpaiError

T = TypeVar("T")

HomeOpt = Annotated[Path | None, typer.Option(
    "--home", help="设备目录 / device directory (comms.device.home, DUNPAI_COMMS_HOME; default "
    "DATA_DIR/comms-device)", show_default=False)]
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="设置文件 / YAML settings file (also DUNPAI_CONFIG)", show_default=False)]
RelayUrl = Annotated[str | None, typer.Option("--relay", help="媒体中继地址，默认用服务告知的 / media relay URL "
                                                           "(default: the one the service names)", show_default=False)]
RelayTicket = Annotated[str | None, typer.Option("--ticket", help="中继入场券，默认向服务申请 / relay ticket "
                                                 "(default: DUNPAI_RELAY_TICKET, else asked from the service)",
                                                 show_default=False)]


def device_settings(home: Path | None, config: Path | None = None) -> Settings:
    return settings(config, comms__device__home=home)


def fail(exc: DunpaiError) -> typer.Exit:
    console.print(f"[red]错误 / error[/red] {escape(f'[{exc.code}] {exc.message}')}")  # "[code]" is not markup
    return typer.Exit(2)


def run(fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(fn())  # type: ignore[arg-type]
    except CommsError as exc:
        raise fail(exc) from exc


async def with_client(cfg: Settings, action: Callable[[CommsClient], Awaitable[T]]) -> T:
    client = open_client(cfg.comms_home, cfg.keystore, terminal_prompt())
    await client.connect()
    try:
        await client.login()
        return await action(client)
    finally:
        await client.close()


def session(home: Path | None, action: Callable[[CommsClient], Awaitable[T]], config: Path | None = None) -> T:
    """Open the device in ``home``, log in, run ``action``; a comms or key store error exits 2."""
    cfg = device_settings(home, config)
    try:
        return run(lambda: with_client(cfg, action))
    except DunpaiError as exc:
        raise fail(exc) from exc


def show(m: Received, group_names: dict[str, str] | None = None) -> None:
    where = f"#{(group_names or {}).get(m.group_id, m.group_id)} " if m.group_id else ""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(m.sent_at / 1000))
    if m.kind == "text":
        console.print(f"[dim]{when}[/dim] {where}[bold]{m.sender}[/bold]/{m.sender_device}: {m.text}")
    elif m.file is not None:
        console.print(f"[dim]{when}[/dim] {where}[bold]{m.sender}[/bold]: 文件 / file {m.file.name} "
                      f"({m.file.size} bytes) — dunpai comms fetch-file {m.mid}")
