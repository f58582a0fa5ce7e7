"""``dunpai audit verify|checkpoint``: check the audit chain, or sign its head now.

The chain is in the settings' database (the data directory's SQLite file by default, or
``--database-url``); the signing keys are in the data directory's key store (or ``--path``, a token).
"""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from dunpai.audit.log import AuditLog
from dunpai.audit.verify import verify_chain
from dunpai.cli.common import (
    BackendOpt,
    ConfigOpt,
    DataDirOpt,
    DbOpt,
    JsonOpt,
    KeyPathOpt,
    ModuleOpt,
    TokenOpt,
    console,
    keystore_flags,
    new_app,
    open_keys,
    print_json,
    settings,
)
from dunpai.keys.labels import AUDIT_SIGNING

app = new_app("审计链：校验、签名检查点 / the append-only, hash-chained audit log: verify, checkpoint.")


@app.command("verify")
def verify(
    database_url: DbOpt = None,
    backend: BackendOpt = None,
    path: KeyPathOpt = None,
    module: ModuleOpt = None,
    token_label: TokenOpt = None,
    checkpoint_every: Annotated[int, typer.Option(
        help="要求每 N 条有检查点（0 不要求） / demand a checkpoint every N entries (0: don't)")] = 0,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """校验每个哈希链接与检查点签名 / check every hash link and checkpoint signature; exit 1 naming the first
    broken entry."""
    from dunpai.core.db import make_engine

    cfg = settings(config, data_dir, database_url=database_url, **keystore_flags(backend, path, module, token_label))
    store = open_keys(cfg)
    engine = make_engine(cfg.db_url)
    try:
        report = verify_chain(engine, store, checkpoint_every=checkpoint_every or None)
    except SQLAlchemyError as exc:
        console.print(f"[red]cannot read the audit chain / 无法读取审计链: {type(exc).__name__}[/red]")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
        store.close()
    if as_json:
        print_json(report.to_dict())
    elif report.ok:
        console.print(f"[green]OK[/green]: {report.entries} entries, {report.checkpoints} signed "
                      f"checkpoints (last at {report.last_checkpoint_seq}); {report.unsigned_tail} entries "
                      "after the last checkpoint are protected by hash links only / 审计链完好")
    else:
        console.print(f"[red]BROKEN[/red] at {report.where} {report.first_bad_seq}: {report.problem} "
                      f"({report.entries} entries verified before it) / 审计链损坏")
    if not report.ok:
        raise typer.Exit(1)


@app.command("checkpoint")
def checkpoint(
    database_url: DbOpt = None,
    backend: BackendOpt = None,
    path: KeyPathOpt = None,
    module: ModuleOpt = None,
    token_label: TokenOpt = None,
    signing_key: Annotated[str, typer.Option(help="签名密钥标签 / label of the signing key")] = AUDIT_SIGNING,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """立即签名审计链头 / sign the current head of the chain now (run from cron to bound the unsigned tail)."""
    from dunpai.core.db import make_engine

    cfg = settings(config, data_dir, database_url=database_url, **keystore_flags(backend, path, module, token_label))
    store = open_keys(cfg)
    engine = make_engine(cfg.db_url)
    try:
        seq = AuditLog(engine, store, signing_key).checkpoint()
    finally:
        engine.dispose()
        store.close()
    console.print("the audit log is empty / 审计链为空" if seq is None else f"checkpoint signed at entry {seq}")
