"""``dunpai comms app``: the messenger app in the browser (``dunpai.comms.app``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dunpai.cli.comms.common import ConfigOpt, HomeOpt, RelayUrl, device_settings, fail
from dunpai.core.errors import DunpaiError


def app(home: HomeOpt = None, config: ConfigOpt = None, relay: RelayUrl = None,
        port: Annotated[int, typer.Option(min=0, max=65535, help="本机端口，0 为任选 / local port (0: any)")] = 0,
        no_browser: Annotated[bool, typer.Option("--no-browser", help="不自动打开浏览器 / do not open the browser")]
        = False,
        url_file: Annotated[Path | None, typer.Option(help="把带启动密钥的地址写入此文件（0600） / write the address "
                                                           "with its launch secret to this file (0600)")] = None,
        file_limit_mb: Annotated[int, typer.Option(min=1, max=700, help="单个文件上限 / largest file to send (MiB)")]
        = 64) -> None:
    """在浏览器中使用的通信应用（仅本机，启动密钥保护） / the messenger app in your browser (this machine only,
    protected by a launch secret)."""
    from dunpai.comms.app.run import AppOptions
    from dunpai.comms.app.run import main as run_app

    cfg = device_settings(home, config)
    try:
        run_app(AppOptions(cfg.comms_home, port, relay, file_limit_mb * 1024 * 1024, not no_browser, url_file,
                           cfg.keystore))
    except DunpaiError as exc:
        raise fail(exc) from exc
