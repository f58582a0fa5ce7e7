"""The service side: ``serve``, ``invite``, ``deploy``/``stop`` a private deployment, the media
``relay`` and the private ⇄ public ``bridge``. Each command is its process's composition root."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from dunpai.cli.common import console, settings
from dunpai.cli.comms.common import ConfigOpt, fail, run
from dunpai.comms.errors import CommsError
from dunpai.core.config import secret
from dunpai.core.errors import DunpaiError

DbOpt = Annotated[str | None, typer.Option(
    "--db", help="数据库 / database URL (comms.service.db, DUNPAI_COMMS_DB; default sqlite:///DATA_DIR/comms.db)",
    show_default=False)]
SchemaOpt = Annotated[str | None, typer.Option(
    "--schema", help="PostgreSQL 模式 / PostgreSQL schema (comms.service.db_schema)", show_default=False)]
HostOpt = Annotated[str | None, typer.Option(help="监听地址 / listen address (default 127.0.0.1)", show_default=False)]


def _sqlite_parent(db: str) -> None:
    if db.startswith("sqlite:///"):
        Path(db[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)


def relay_secret_or_exit(value: str | None) -> bytes:
    if not value:
        console.print("[red]错误 / error[/red] DUNPAI_RELAY_SECRET: 需要至少 32 字节的十六进制密钥 / "
                      "needs a hex secret of at least 32 bytes")
        raise typer.Exit(2)
    return bytes.fromhex(value)  # checked by the settings


def serve(db: DbOpt = None, host: HostOpt = None,
          port: Annotated[int | None, typer.Option(help="端口 / port (default 8765)", show_default=False)] = None,
          tls_cert: Annotated[Path | None, typer.Option(help="TLS 证书 / certificate (PEM)",
                                                        show_default=False)] = None,
          tls_key: Annotated[Path | None, typer.Option(help="TLS 私钥 / private key (PEM)", show_default=False)] = None,
          log: Annotated[Path | None, typer.Option(help="日志文件 / log file", show_default=False)] = None,
          schema: SchemaOpt = None,
          relay_url: Annotated[str | None, typer.Option(help="告知客户端的媒体中继地址 / media relay URL told to "
                                                              "clients", show_default=False)] = None,
          relay_ticket_ttl: Annotated[int | None, typer.Option(
              help="入场券有效秒数 / relay ticket lifetime (s), 1–86400 (default 600)", show_default=False)] = None,
          config: ConfigOpt = None) -> None:
    """运行通信服务；设置 DUNPAI_RELAY_SECRET 时签发中继入场券 / run the comms service; it issues relay tickets
    when DUNPAI_RELAY_SECRET is set."""
    import ssl

    from dunpai.comms.media.ticket_policy import RelayPolicy
    from dunpai.comms.server.launch import attach_log, start_service
    from dunpai.comms.server.service import ServiceConfig

    cfg = settings(config, comms__service__db=db, comms__service__host=host, comms__service__port=port,
                   comms__service__db_schema=schema, comms__service__relay_url=relay_url,
                   comms__service__relay_ticket_ttl_s=relay_ticket_ttl)
    svc_cfg, quotas = cfg.comms.service, cfg.comms.quotas
    key = secret(svc_cfg.relay_secret)
    config_obj = ServiceConfig(
        relay=None if key is None else RelayPolicy(bytes.fromhex(key), url=svc_cfg.relay_url,
                                                   ttl_s=svc_cfg.relay_ticket_ttl_s),
        messages_per_minute=quotas.messages_per_minute, message_burst=quotas.message_burst,
        max_blob_bytes=quotas.max_file_mib * 1024 * 1024, user_blob_bytes=quotas.user_storage_mib * 1024 * 1024)
    ctx = None
    if tls_cert and tls_key:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(tls_cert, tls_key)
    if log:
        attach_log(log)
    _sqlite_parent(cfg.comms_db)

    async def main() -> None:
        svc = await start_service(cfg.comms_db, host=svc_cfg.host, port=svc_cfg.port, ssl_context=ctx,
                                  schema=svc_cfg.db_schema, config=config_obj)
        console.print(f"服务运行中 / serving on {svc.url} (Ctrl-C 停止 / to stop)")
        if config_obj.relay is None:
            console.print("未设置 DUNPAI_RELAY_SECRET：不签发中继入场券 / "
                          "DUNPAI_RELAY_SECRET not set: no relay tickets")
        try:
            await asyncio.Event().wait()
        finally:
            await svc.stop()

    with contextlib.suppress(KeyboardInterrupt):
        run(main)


def invite(db: DbOpt = None,
           count: Annotated[int, typer.Option(help="数量 / how many", min=1, max=1000)] = 1,
           schema: SchemaOpt = None, config: ConfigOpt = None) -> None:
    """生成一次性邀请码（在服务端运行） / create single-use invite codes (run on the service host)."""
    from dunpai.comms.server.service import CommsService
    from dunpai.comms.server.store import SqlStore

    cfg = settings(config, comms__service__db=db, comms__service__db_schema=schema)
    _sqlite_parent(cfg.comms_db)
    store = SqlStore.open(cfg.comms_db, time.time(), cfg.comms.service.db_schema)
    try:
        service = CommsService(store, time.time)
        for _ in range(count):
            typer.echo(service.create_invite())
    finally:
        store.close()


def deploy(directory: Annotated[Path, typer.Option("--dir", help="部署目录 / deployment directory")],
           name: Annotated[str, typer.Option(help="部署名 / deployment name")] = "private",
           db: Annotated[str | None, typer.Option(help="数据库，默认 SQLite / database URL (default SQLite)",
                                                  show_default=False)] = None,
           host: Annotated[str, typer.Option(help="监听地址（默认仅本机） / listen address (loopback)")] = "127.0.0.1",
           port: Annotated[int, typer.Option(help="服务端口 / service port (0: any free port)", min=0,
                                             max=65535)] = 8765,
           admin: Annotated[str, typer.Option(help="管理员用户名 / administrator")] = "admin",
           invites: Annotated[int, typer.Option(help="邀请码数量 / invite codes", min=0, max=10_000)] = 10,
           bridge_port: Annotated[int, typer.Option(help="网桥双向 TLS 端口，0 为无 / mutual-TLS port for the "
                                                         "bridge (0: none)", min=0, max=65535)] = 0,
           schema: SchemaOpt = None,
           relay_port: Annotated[int, typer.Option(help="媒体中继端口，0 为任意空闲端口 / media relay port "
                                                        "(0: any free port)", min=0, max=65535)] = 0,
           config: ConfigOpt = None) -> None:
    """一条命令部署并启动私有通信服务（可重复运行） / deploy and start a private service (safe to run again)."""
    from dunpai.comms.deploy.manage import deploy as do_deploy

    cfg = settings(config)
    try:
        r = do_deploy(directory, name=name, db=db, host=host, port=port, admin=admin, invites=invites,
                      bridge_port=bridge_port, schema=schema, relay_port=relay_port, keystore=cfg.keystore)
    except DunpaiError as exc:
        raise fail(exc) from exc
    state = "已启动 / started" if r.started else "已在运行 / already running"
    console.print(f"{state}: {r.config.name} {r.url} (pid {r.pid})")
    if r.relay_url:
        console.print(f"媒体中继 / media relay: {r.relay_url}")
    console.print(f"管理员在自己的设备上注册 / the administrator enrols on their own device (never this host): "
                  f"dunpai comms register --server {r.url} --user {r.config.admin} --invite \"$(cat "
                  f"{r.admin_invite})\" --home <their device directory>")
    if r.admin_keys_on_host:
        console.print(f"[yellow]警告 / warning[/yellow]: {directory / 'admin'} holds the administrator's device keys "
                      "on the service host (made by an older release): move it to their own machine or token and "
                      "delete it here")
    console.print(f"邀请码 / invite codes ({len(r.invites)}): {directory / 'secrets' / 'invites.txt'}")


def stop(directory: Annotated[Path, typer.Option("--dir", help="部署目录 / deployment directory")]) -> None:
    """停止部署的服务 / stop a deployment's service."""
    from dunpai.comms.deploy.process import stop as do_stop

    console.print("已停止 / stopped" if do_stop(directory.resolve()) else "未在运行 / not running")


def relay(host: Annotated[str, typer.Option(help="监听地址 / listen address")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="端口 / port", min=0, max=65535)] = 8766,
          config: ConfigOpt = None) -> None:
    """运行媒体中继（对讲、通话），密钥来自 DUNPAI_RELAY_SECRET / run the media relay (push-to-talk, calls); its
    ticket secret comes from DUNPAI_RELAY_SECRET."""
    from dunpai.comms.media.relay_launch import start_relay

    key = relay_secret_or_exit(secret(settings(config).comms.service.relay_secret))

    async def main() -> None:
        running = await start_relay(key, host=host, port=port)
        console.print(f"媒体中继 / media relay: ws://{host}:{running.port}")
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


def bridge(config: Annotated[Path, typer.Option("--config", help="网桥设置文件 / the bridge's settings file "
                                                "(comms.bridge section)")],
           ready: Annotated[Path | None, typer.Option(help="连接后写入此文件 / file written once connected",
                                                      show_default=False)] = None) -> None:
    """运行私网⇄公网安全网桥（只转发密文） / run the private⇄public bridge (relays ciphertext only)."""
    from dunpai.comms.bridge.run import bridge_config, run_bridge

    try:
        cfg = bridge_config(settings(config))
    except DunpaiError as exc:
        raise fail(exc) from exc

    async def main() -> None:
        stop_now = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_now.set)
        names = ", ".join(link.name for link in cfg.links)
        console.print(f"网桥运行中 / bridge running: {names} (Ctrl-C 停止 / to stop)")
        await run_bridge(cfg, stop_now, ready)

    try:
        asyncio.run(main())
    except CommsError as exc:
        raise fail(exc) from exc
