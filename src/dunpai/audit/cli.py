"""``dunpai audit verify|checkpoint``: check the audit chain, or sign its head now."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from dunpai.audit.log import AuditLog
from dunpai.audit.verify import verify_chain
from dunpai.keys.cli_options import (
    DEFAULT_PATH,
    BackendOpt,
    ModuleOpt,
    PathOpt,
    TokenOpt,
    keystore_from_options,
)
from dunpai.keys.errors import DecryptionFailed
from dunpai.keys.labels import AUDIT_SIGNING

app = typer.Typer(help="Append-only, hash-chained audit log with signed checkpoints.", no_args_is_help=True)
console = Console()

DbOpt = Annotated[str | None, typer.Option("--database-url", envvar="DUNPAI_DATABASE_URL",
                                           help="database holding the audit chain (default: settings)")]


def _database_url(url: str | None) -> str:
    if url:
        return url
    from dunpai.core.config import load_settings

    return load_settings().db_url


@app.command("verify")
def verify(
    database_url: DbOpt = None,
    backend: BackendOpt = "software",
    path: PathOpt = DEFAULT_PATH,
    module: ModuleOpt = None,
    token_label: TokenOpt = None,
    checkpoint_every: Annotated[int, typer.Option(help="demand a checkpoint every N entries (0: don't)")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable report")] = False,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="a Dunpai data directory (embedded default): its database and key store")] = None,
) -> None:
    """Check every hash link and checkpoint signature; exit 1 and name the first broken entry."""
    from dunpai.core.db import make_engine

    try:
        if data_dir is not None:
            from dunpai.core.config import load_settings
            from dunpai.risk.runtime import open_keys

            settings = load_settings(overrides={"data_dir": str(data_dir)})
            store = open_keys(settings)
            database_url = database_url or settings.db_url
        else:
            store = keystore_from_options(backend, path, module, token_label)
    except DecryptionFailed:
        console.print("[red]cannot open the key store (wrong passphrase or damaged file)[/red]")
        raise typer.Exit(2) from None
    engine = make_engine(_database_url(database_url))
    try:
        report = verify_chain(engine, store, checkpoint_every=checkpoint_every or None)
    except SQLAlchemyError as exc:
        console.print(f"[red]cannot read the audit chain: {type(exc).__name__}[/red]")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
        store.close()
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    elif report.ok:
        console.print(f"[green]OK[/green]: {report.entries} entries, {report.checkpoints} signed "
                      f"checkpoints (last at {report.last_checkpoint_seq}); {report.unsigned_tail} entries "
                      "after the last checkpoint are protected by hash links only")
    else:
        console.print(f"[red]BROKEN[/red] at {report.where} {report.first_bad_seq}: {report.problem} "
                      f"({report.entries} entries verified before it)")
    if not report.ok:
        raise typer.Exit(1)


@app.command("checkpoint")
def checkpoint(
    database_url: DbOpt = None,
    backend: BackendOpt = "software",
    path: PathOpt = DEFAULT_PATH,
    module: ModuleOpt = None,
    token_label: TokenOpt = None,
    signing_key: Annotated[str, typer.Option(help="label of the signing key")] = AUDIT_SIGNING,
) -> None:
    """Sign the current head of the chain now (run from cron to bound the unsigned tail)."""
    from dunpai.core.db import make_engine

    store = keystore_from_options(backend, path, module, token_label)
    engine = make_engine(_database_url(database_url))
    try:
        seq = AuditLog(engine, store, signing_key).checkpoint()
    finally:
        engine.dispose()
        store.close()
    console.print("the audit log is empty" if seq is None else f"checkpoint signed at entry {seq}")
