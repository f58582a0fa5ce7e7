"""The risk part's commands: ``serve``, ``replay``, ``explain``, ``demo`` (``apikey``: ``apikeys.py``)."""

from __future__ import annotations

import gc
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from dunpai.cli.common import ConfigOpt, DataDirOpt, JsonOpt, OutOpt, TenantOpt, console, print_json, settings
from dunpai.core.config import Settings
from dunpai.core.files import tighten


def _serve_app(cfg: Settings) -> tuple[Any, Any, Any]:
    """The process's composition root: service, API, console, access log."""
    from dunpai.api.access_log import AccessLog
    from dunpai.api.app import create_app
    from dunpai.api.auth import Authenticator
    from dunpai.api.cases import install_cases
    from dunpai.api.revocations import Revocations, marker_path
    from dunpai.core.db import WalCheckpointer
    from dunpai.risk.runtime import open_incidents, open_service
    from dunpai.web import create_console

    service = open_service(cfg)
    checkpointer = WalCheckpointer(service.db)
    revocations = Revocations(marker_path(cfg.data_dir), service.db)
    api = create_app(service, Authenticator(service.db, cfg.api_keys, revocations),
                     deadline_s=cfg.events.deadline_ms / 1000, spool_dir=cfg.data_dir / "spool")
    incidents = open_incidents(service, cfg.bank)
    install_cases(api, incidents)
    api.mount("/console", create_console(incidents, service, secure_cookies=cfg.console.secure_cookies,
                                         model_registry=cfg.model_registry,
                                         alert_budget=cfg.policy.max_interrupt_rate))
    asgi: Any = api if cfg.server.access_log == "off" else AccessLog(api, cfg.server.access_log)
    return asgi, service, checkpointer


def _access_logger() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    access = logging.getLogger("dunpai.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False


def serve(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    host: Annotated[str | None, typer.Option(help="监听地址 / address to listen on (server.host, default 127.0.0.1)",
                                             show_default=False)] = None,
    port: Annotated[int | None, typer.Option(help="端口 / port, 1–65535 (server.port, default 8600)",
                                             show_default=False)] = None,
    access_log: Annotated[str | None, typer.Option(
        help="访问日志 / access log: off, text or json (server.access_log, default text)", show_default=False)] = None,
    insecure_cookies: Annotated[bool, typer.Option(
        "--insecure-cookies", help="控制台 Cookie 不带 Secure（仅限本机明文 HTTP） / console cookies without the "
        "Secure flag (plain HTTP on loopback only)")] = False,
) -> None:
    """运行决策 API 与分析员控制台 / run the decision API (OpenAPI at /docs) and the analyst console at /console."""
    import uvicorn

    cfg = settings(config, data_dir, server__host=host, server__port=port, server__access_log=access_log,
                   console__secure_cookies=False if insecure_cookies else None)
    loosened = tighten(cfg.data_dir)  # a data directory made by an older release: 0700 and 0600 from now on
    if loosened:
        Console(stderr=True).print(f"数据目录权限已收紧 / data directory made private: {len(loosened)} path(s) under "
                                   f"{cfg.data_dir} lost group and other access", highlight=False)
    asgi, service, checkpointer = _serve_app(cfg)
    if cfg.server.access_log != "off":
        _access_logger()
    url = f"http://{cfg.server.host}:{cfg.server.port}"

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:  # bound: now say so (a failed bind has said why already)
                Console(stderr=True).print(
                    f"盾牌 Dunpai 决策 API 已启动 / decision API listening on {url} — OpenAPI {url}/docs, "
                    f"console {url}/console; data {cfg.data_dir}; Ctrl-C 停止 / to stop", highlight=False)

    gc.freeze()  # start-up objects live forever: keep the cyclic collector off them
    try:
        # No proxy-header rewriting: Dunpai never uses a client's address (nor stores one).
        Server(uvicorn.Config(asgi, host=cfg.server.host, port=cfg.server.port, log_level="warning",
                              access_log=False, proxy_headers=False)).run()
    finally:
        checkpointer.stop()
        if service.audit is not None:
            service.audit.checkpoint()  # the head is signed at shutdown, whatever the signing schedule
        service.close()


def replay(
    file: Annotated[Path, typer.Argument(help="事件文件 JSONL 或 Parquet / events as JSONL or Parquet", exists=True,
                                         dir_okay=False)],
    tenant: TenantOpt = "default",
    out: Annotated[Path | None, typer.Option("--out", help="决策写为 JSONL / write decisions here as JSONL",
                                             show_default=False)] = None,
    allow_rejects: Annotated[bool, typer.Option(
        "--allow-rejects", help="有被拒事件也退出 0 / exit 0 even when events were rejected")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """用与 API 相同的路径逐一决策 / decide every event of FILE through the same path as the API; prints a JSON
    summary; exit 1 when an event was rejected (unless --allow-rejects)."""
    from dunpai.risk.replay import replay_file
    from dunpai.risk.runtime import open_service

    service = open_service(settings(config, data_dir))
    try:
        summary = replay_file(service, file, tenant, out, Console(stderr=True))
    finally:
        service.close()
    print_json(summary)
    if summary["rejected"] and not allow_rejects:
        raise typer.Exit(1)


def explain(
    decision_id: Annotated[str, typer.Argument(help="决策编号 / decision id (dec_...)")],
    tenant: TenantOpt = "default",
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """决策原因：每条规则的结果与所见数值、客户说明 / why a decision was made: each rule's result with the values
    it saw, and the customer text."""
    from dunpai.cli.render import print_explanation
    from dunpai.risk.runtime import open_service

    service = open_service(settings(config, data_dir))
    try:
        explanation = service.explain(tenant, decision_id)
    finally:
        service.close()
    if as_json:
        print_json(explanation)
    else:
        print_explanation(console, explanation)


def demo(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="演示数据目录，每次重新开始 / demo data directory, "
                                           "started afresh on every run")] = Path(".dunpai-demo"),
    out: OutOpt = None,
    customers: Annotated[int, typer.Option(help="正常交易的客户数 / customers in the normal traffic")] = 300,
    seed: Annotated[int, typer.Option(help="交易随机种子 / random seed of the traffic")] = 7,
    evidence_dir: Annotated[Path | None, typer.Option(
        "--evidence-dir", help="证据包、报案材料与通知 / evidence bundles, police reports and notices "
        "(default: DATA_DIR/evidence)", show_default=False)] = None,
    config: ConfigOpt = None,
) -> None:
    """重放原文案例并处置 / replay the source's cases mixed into a day of normal traffic, show each decision, then
    open the cases, freeze with dual control, export evidence and settle compensation. Re-running starts clean:
    the demo directory's previous contents are removed first (a directory that is not a demo's is refused)."""
    from dunpai.cli.demos.risk import run_demo

    # the demo always runs on its own embedded database, whatever DUNPAI_DATABASE_URL says
    cfg = settings(config, data_dir).model_copy(update={"database_url": None})
    raise typer.Exit(run_demo(cfg, out, customers, seed, console, evidence_dir or data_dir / "evidence"))
