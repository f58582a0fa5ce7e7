"""``dunpai audit verify|checkpoint``: check the audit chain, or sign its head now.

The chain is in the settings' database (the data directory's SQLite file by default, or
``--database-url``); the signing keys are in the data directory's key store (or ``--path``, a token).
``verify`` fails when the head is not covered by a signed checkpoint (every append signs it, so
an unsigned head means a cut or rewritten tail; ``--allow-unsigned-tail`` for a chain written with
signing by count only). ``checkpoint --export FILE`` writes the signed head to a file to keep off
the machine; ``verify --anchor FILE`` checks the chain still holds exactly what it signed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from dunpai.audit.log import AuditLog
from dunpai.audit.verify import Anchor, read_anchor, verify_chain
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
    allow_unsigned_tail: Annotated[int, typer.Option(
        help="链头之后允许未签名的条数（默认 0：链头必须已签名） / entries allowed after the last signed checkpoint "
        "(default 0: the head must be signed)", min=0)] = 0,
    anchor: Annotated[Path | None, typer.Option(
        "--anchor", help="保存在本机之外的检查点文件 / a checkpoint file kept off this machine "
        "(audit checkpoint --export)", exists=True, dir_okay=False, show_default=False)] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """校验每个哈希链接与检查点签名，链头须已签名 / check every hash link and checkpoint signature, that the head is
    signed and (with --anchor) that the chain still holds what the anchor signed; exit 1 naming the first broken
    entry."""
    from dunpai.core.db import make_engine

    cfg = settings(config, data_dir, database_url=database_url, **keystore_flags(backend, path, module, token_label))
    kept = Anchor.from_json(anchor.read_text(encoding="utf-8")) if anchor is not None else None
    store = open_keys(cfg)
    engine = make_engine(cfg.db_url)
    try:
        report = verify_chain(engine, store, checkpoint_every=checkpoint_every or None,
                              max_unsigned_tail=allow_unsigned_tail, anchor=kept)
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
    export: Annotated[Path | None, typer.Option(
        "--export", help="把签名的链头写入此文件，保存在本机之外 / write the signed head to this file, to keep off "
        "this machine", dir_okay=False, show_default=False)] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """立即签名审计链头 / sign the current head of the chain now; with --export also write it out as an anchor for
    ``verify --anchor``."""
    from dunpai.core.db import make_engine

    cfg = settings(config, data_dir, database_url=database_url, **keystore_flags(backend, path, module, token_label))
    store = open_keys(cfg)
    engine = make_engine(cfg.db_url)
    try:
        seq = AuditLog(engine, store, signing_key).checkpoint()
        kept = read_anchor(engine, seq) if seq is not None and export is not None else None
    finally:
        engine.dispose()
        store.close()
    console.print("the audit log is empty / 审计链为空" if seq is None else f"checkpoint signed at entry {seq}")
    if kept is not None and export is not None:
        export.write_text(kept.to_json(), encoding="utf-8")
        console.print(f"anchor written to {export}: keep it off this machine / 请将此文件保存在本机之外")
