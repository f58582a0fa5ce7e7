"""``python -m dunpai.comms.app`` — the same as ``dunpai comms app`` (lighter start, no CLI imports)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dunpai.comms.app.files import DEFAULT_LIMIT


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dunpai comms app", description="盾牌通信应用 / the Dunpai messenger app")
    p.add_argument("--home", type=Path, default=None,
                   help="设备目录（默认取设置 comms.device.home） / device directory (default: the comms.device.home "
                        "setting)")
    p.add_argument("--config", type=Path, default=None, help="设置文件 / settings file (YAML)")
    p.add_argument("--port", type=int, default=0, help="本机端口（0 为任选） / local port (0: any free one)")
    p.add_argument("--relay", default=None, help="媒体中继地址（默认由服务告知） / media relay URL")
    p.add_argument("--no-browser", action="store_true", help="不自动打开浏览器 / do not open the browser")
    p.add_argument("--url-file", type=Path, default=None,
                   help="把带密钥的地址写入此文件（0600） / write the address with its secret to this file")
    p.add_argument("--file-limit-mb", type=int, default=DEFAULT_LIMIT // (1024 * 1024),
                   help="单个文件大小上限 / largest file to send (MiB)")
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        p.error("--port: 0 … 65535")
    if not 1 <= args.file_limit_mb <= 700:
        p.error("--file-limit-mb: 1 … 700")
    return args


def main(argv: list[str] | None = None) -> None:
    from dunpai.comms.app.run import AppOptions
    from dunpai.comms.app.run import main as run_app
    from dunpai.core.config import load_settings
    from dunpai.core.errors import DunpaiError

    a = parse(argv)
    try:
        settings = load_settings(a.config, {"comms": {"device": {"home": a.home}}} if a.home else None)
        run_app(AppOptions(settings.comms_home, a.port, a.relay, a.file_limit_mb * 1024 * 1024, not a.no_browser,
                           a.url_file, settings.keystore))
    except DunpaiError as exc:
        raise SystemExit(f"错误 / error: [{exc.code}] {exc}") from None


if __name__ == "__main__":
    main()
