"""``python -m dunpai.comms.app`` — the same as ``dunpai comms app`` (lighter start, no CLI imports).

Its options mirror ``dunpai.cli.comms.messenger_app``; it cannot call that command, as the comms room
sits below the ``cli`` floor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dunpai.comms.app.files import DEFAULT_LIMIT


def main(home: Annotated[Path | None, typer.Option(
            help="设备目录（默认取设置 comms.device.home） / device directory (default: the comms.device.home "
                 "setting)", show_default=False)] = None,
         config: Annotated[Path | None, typer.Option(help="设置文件 / settings file (YAML)", show_default=False)]
         = None,
         port: Annotated[int, typer.Option(min=0, max=65535,
                                           help="本机端口（0 为任选） / local port (0: any free one)")] = 0,
         relay: Annotated[str | None, typer.Option(help="媒体中继地址（默认由服务告知） / media relay URL",
                                                   show_default=False)] = None,
         no_browser: Annotated[bool, typer.Option("--no-browser", help="不自动打开浏览器 / do not open the browser")]
         = False,
         url_file: Annotated[Path | None, typer.Option(help="把带密钥的地址写入此文件（0600） / write the address with "
                                                            "its secret to this file", show_default=False)] = None,
         file_limit_mb: Annotated[int, typer.Option(min=1, max=700,
                                                    help="单个文件大小上限 / largest file to send (MiB)")]
         = DEFAULT_LIMIT // (1024 * 1024)) -> None:
    """盾牌通信应用 / the Dunpai messenger app."""
    from dunpai.comms.app.run import AppOptions
    from dunpai.comms.app.run import main as run_app
    from dunpai.core.config import load_settings
    from dunpai.core.errors import DunpaiError

    try:
        settings = load_settings(config, {"comms": {"device": {"home": home}}} if home else None)
        run_app(AppOptions(settings.comms_home, port, relay, file_limit_mb * 1024 * 1024, not no_browser,
                           url_file, settings.keystore))
    except DunpaiError as exc:
        raise SystemExit(f"错误 / error: [{exc.code}] {exc}") from None


if __name__ == "__main__":
    typer.run(main)
