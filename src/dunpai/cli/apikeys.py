"""``dunpai apikey``: create an API key (``dunpai apikey --role integrator``, as before, or
``apikey create``), list the keys, revoke one. A revocation stops a running server accepting the
key on its next request (``api/revocations.py``), not after its look-up cache expires."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import Engine

from dunpai.cli.common import (
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    TenantOpt,
    console,
    id_column,
    new_app,
    print_json,
    settings,
)
from dunpai.core.config import Settings

app = new_app("API 密钥：创建、列出、吊销 / API keys: create, list, revoke.")
RoleOpt = Annotated[str | None, typer.Option(
    help="角色 / role: integrator, analyst, supervisor or admin", show_default=False)]
NameOpt = Annotated[str, typer.Option(help="使用者 / who or what uses the key")]


def _db(cfg: Settings) -> Engine:
    from dunpai.core.db import init_schema, make_engine

    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    db = make_engine(cfg.db_url)
    init_schema(db)
    return db


def _create(role: str, name: str, tenant: str, cfg: Settings) -> None:
    from dunpai.api.auth import create_api_key
    from dunpai.audit import AuditLog
    from dunpai.risk.runtime import open_keys

    db = _db(cfg)
    try:
        typer.echo(create_api_key(db, name, role, tenant, AuditLog(db, open_keys(cfg))))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--role") from None
    finally:
        db.dispose()


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context, role: RoleOpt = None, name: NameOpt = "cli", tenant: TenantOpt = "default",
          config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """API 密钥：``--role`` 创建一个（只显示一次，仅存摘要），或 list / revoke / create a key with ``--role`` (printed
    once, stored only as a digest), or list / revoke."""
    if ctx.invoked_subcommand is not None:
        return
    if role is None:
        raise typer.BadParameter("give --role to create a key, or a command: create, list, revoke",
                                 param_hint="--role")
    _create(role, name, tenant, settings(config, data_dir))


@app.command("create")
def create(role: Annotated[str, typer.Option(help="角色 / role: integrator, analyst, supervisor or admin")],
           name: NameOpt = "cli", tenant: TenantOpt = "default", config: ConfigOpt = None,
           data_dir: DataDirOpt = None) -> None:
    """创建 API 密钥：只显示一次，仅存摘要 / create an API key; it is printed once and stored only as a digest."""
    _create(role, name, tenant, settings(config, data_dir))


def _when(t: float | None) -> str:
    return "" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@app.command("list")
def list_keys(as_json: JsonOpt = False, config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """列出 API 密钥（编号、名称、角色、租户、状态；从不显示密钥） / list API keys (id, name, role, tenant, state;
    never the key)."""
    from dunpai.api.auth import list_api_keys

    cfg = settings(config, data_dir)
    db = _db(cfg)
    try:
        keys = list_api_keys(db, cfg.api_keys)
    finally:
        db.dispose()
    if as_json:
        print_json([k.to_dict() for k in keys])
        return
    table = Table(title="API 密钥 / API keys")
    id_column(table, "id", [k.key_id for k in keys])
    for header in ("name", "role", "tenant", "created (UTC)", "revoked (UTC)", "source"):
        table.add_column(header)
    for k in keys:
        table.add_row(k.key_id, k.name, k.role, k.tenant, _when(k.created_at), _when(k.revoked_at), k.source)
    console.print(table)


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="密钥编号（list 显示的摘要前缀） / key id (the digest prefix "
                                                      "that list shows)")],
           actor: Annotated[str, typer.Option("--actor", help="操作人（写入审计链） / who acts (written to the audit "
                                              "chain)")] = "cli",
           config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """吊销 API 密钥，运行中的服务立即拒绝它 / revoke an API key; running servers refuse it from their next
    request."""
    from dunpai.api.auth import revoke_api_key
    from dunpai.audit import AuditLog
    from dunpai.risk.runtime import open_keys

    cfg = settings(config, data_dir)
    db = _db(cfg)
    try:
        info = revoke_api_key(db, key_id, actor=actor, audit=AuditLog(db, open_keys(cfg)), data_dir=cfg.data_dir,
                              configured=cfg.api_keys)
    finally:
        db.dispose()
    console.print(f"已吊销 / revoked {info.key_id} ({info.name}, {info.role}, tenant {info.tenant})")
