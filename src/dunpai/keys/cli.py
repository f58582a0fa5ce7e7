"""``dunpai keys init|list|rotate``: key custody from the command line.

When a database is named (``--database-url`` or ``DUNPAI_DATABASE_URL``), ``init`` and ``rotate``
are written to the audit chain as administrative changes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dunpai.keys.cli_options import (
    DEFAULT_PATH,
    BackendOpt,
    ModuleOpt,
    PathOpt,
    TokenOpt,
    keystore_from_options,
)
from dunpai.keys.errors import DecryptionFailed, KeyNotFound, KeyStoreError
from dunpai.keys.labels import ensure_standard_keys
from dunpai.keys.software_file import Argon2Params
from dunpai.keys.store import KeyStore

app = typer.Typer(help="Key custody: PKCS#11 token or encrypted software key store.", no_args_is_help=True)
console = Console()

DbOpt = Annotated[str | None, typer.Option("--database-url", envvar="DUNPAI_DATABASE_URL",
                                           help="database whose audit chain records this change")]
ActorOpt = Annotated[str, typer.Option("--actor", help="who makes the change (for the audit entry)")]


def _default_actor() -> str:
    return os.environ.get("USER") or "cli"


def _audit(store: KeyStore, database_url: str | None, actor: str, action: str, subject: str,
           details: dict[str, Any]) -> None:
    if not database_url:
        return
    from dunpai.audit.log import AuditLog
    from dunpai.core.db import init_schema, make_engine

    engine = make_engine(database_url)
    try:
        init_schema(engine)
        AuditLog(engine, store).append(actor, action, subject, details)
    finally:
        engine.dispose()


def _open(backend: str, path: Path, module: str | None, token_label: str | None,
          create: bool = False, argon2: Argon2Params | None = None) -> KeyStore:
    try:
        return keystore_from_options(backend, path, module, token_label, create=create, argon2=argon2)
    except DecryptionFailed:
        console.print("[red]cannot open the key store (wrong passphrase or damaged file)[/red]")
        raise typer.Exit(2) from None


@app.command("init")
def init(
    backend: BackendOpt = "software",
    path: PathOpt = DEFAULT_PATH,
    module: ModuleOpt = None,
    token_label: TokenOpt = None,
    gm: Annotated[bool, typer.Option("--gm", help="SM4 / HMAC-SM3 keys (GM/T deployments)")] = False,
    database_url: DbOpt = None,
    actor: ActorOpt = "",
    kdf_iterations: Annotated[int, typer.Option(help="Argon2id passes for a new software store")] = 3,
    kdf_memory_mib: Annotated[int, typer.Option(help="Argon2id memory (MiB) for a new software store")] = 64,
    kdf_lanes: Annotated[int, typer.Option(help="Argon2id parallelism for a new software store")] = 4,
) -> None:
    """Create the store (software) if needed and generate whichever standard keys are missing."""
    try:
        argon2 = Argon2Params(kdf_iterations, kdf_memory_mib * 1024, kdf_lanes)
    except KeyStoreError as exc:
        raise typer.BadParameter(exc.message) from None
    store = _open(backend, path, module, token_label, create=True, argon2=argon2)
    try:
        created = ensure_standard_keys(store, gm=gm)
        for info in created:
            console.print(f"created {info.key_id} ({info.kind})")
        if not created:
            console.print("all standard keys exist already")
        else:
            _audit(store, database_url, actor or _default_actor(), "keys.init", f"keystore:{store.backend}",
                   {"created": [i.key_id for i in created]})
    finally:
        store.close()


@app.command("list")
def list_keys(
    backend: BackendOpt = "software",
    path: PathOpt = DEFAULT_PATH,
    module: ModuleOpt = None,
    token_label: TokenOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """List every live key version with its metadata (never key material)."""
    store = _open(backend, path, module, token_label)
    try:
        infos = store.list()
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps([i.to_dict() for i in infos], indent=2))
        return
    table = Table("key id", "kind", "state", "created", "backend", "extractable")
    for i in infos:
        table.add_row(i.key_id, i.kind, i.state, i.created_at.isoformat(timespec="seconds"), i.backend,
                      "yes" if i.extractable else "no")
    console.print(table)


@app.command("rotate")
def rotate(
    label: Annotated[str, typer.Argument(help="label of the key to rotate, e.g. data-kek")],
    backend: BackendOpt = "software",
    path: PathOpt = DEFAULT_PATH,
    module: ModuleOpt = None,
    token_label: TokenOpt = None,
    database_url: DbOpt = None,
    actor: ActorOpt = "",
) -> None:
    """Create the next version of a key. Older versions stay usable (retired) until destroyed."""
    store = _open(backend, path, module, token_label)
    try:
        try:
            info = store.rotate(label)
        except KeyNotFound:
            console.print(f"[red]no key labelled {label!r}[/red]")
            raise typer.Exit(1) from None
        console.print(f"rotated {label}: active version is now {info.key_id}")
        _audit(store, database_url, actor or _default_actor(), "keys.rotate", f"key:{label}",
               {"new_key_id": info.key_id, "kind": info.kind})
    finally:
        store.close()
