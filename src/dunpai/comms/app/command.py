"""The messenger app's command, declared once: ``dunpai comms app`` registers this function and
``python -m dunpai.comms.app`` runs it (a lighter start, without the CLI's imports)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dunpai.comms.app.files import DEFAULT_LIMIT


def app(home: Annotated[Path | None, typer.Option(
            help="设备目录 / device directory (comms.device.home, DUNPAI_COMMS_HOME; default DATA_DIR/comms-device)",
            show_default=False)] = None,
        config: Annotated[Path | None, typer.Option(help="设置文件 / YAML settings file (also DUNPAI_CONFIG)",
                                                    show_default=False)] = None,
        relay: Annotated[str | None, typer.Option(help="媒体中继地址，默认用服务告知的 / media relay URL (default: the "
                                                       "one the service names)", show_default=False)] = None,
        port: Annotated[int, typer.Option(min=0, max=65535, help="本机端口，0 为任选 / local port (0: any)")] = 0,
        no_browser: Annotated[bool, typer.Option("--no-browser", help="不自动打开浏览器 / do not open the browser")]
        = False,
        url_file: Annotated[Path | None, typer.Option(help="把带启动密钥的地址写入此文件（0600） / write the address "
                                                           "with its launch secret to this file (0600)",
                                                      show_default=False)] = None,
        file_limit_mb: Annotated[int, typer.Option(min=1, max=700, help="单个文件上限 / largest file to send (MiB)")]
        = DEFAULT_LIMIT // (1024 * 1024)) -> None:
    """在浏览器中使用的通信应用（仅本机，启动密钥保护） / the messenger app in your browser (this machine only,
    protected by a launch secret)."""
    from rich.console import Console
    from rich.markup import escape

    from dunpai.comms.app.run import AppOptions
    from dunpai.comms.app.run import main as run_app
    from dunpai.core.config import load_settings
    from dunpai.core.errors import DunpaiError

    try:
        settings = load_settings(config, {"comms": {"device": {"home": home}}} if home is not None else None)
        run_app(AppOptions(settings.comms_home, port, relay, file_limit_mb * 1024 * 1024, not no_browser, url_file,
                           settings.keystore))
    except DunpaiError as exc:
        errors = Console(stderr=True)
        errors.print(f"[red]错误 / error[/red] {escape(f'[{exc.code}] {exc.message}')}", highlight=False)
        for p in exc.problems:
            errors.print(f"  {escape(p.field)}: {escape(p.problem)}", highlight=False)
        raise typer.Exit(2) from None
