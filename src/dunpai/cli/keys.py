"""``dunpai keys init|list|public|rotate``: key custody from the command line.

The store is the data directory's (``DATA_DIR/keys/keystore.dpks``, or a token) by the one
convention of ``docs/configuration.md``. ``init`` and ``rotate`` are written to the audit chain of
``--database-url`` (``DUNPAI_DATABASE_URL``), or of the data directory's database when it exists.
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer
from rich.table import Table

from dunpai.cli.common import (
    ActorOpt,
    BackendOpt,
    ConfigOpt,
    DataDirOpt,
    DbOpt,
    JsonOpt,
    KeyPathOpt,
    ModuleOpt,
    TokenOpt,
    console,
    id_column,
    keystore_flags,
    new_app,
    open_keys,
    print_json,
    settings,
)
from dunpai.core.config import Settings
from dunpai.keys.errors import KeyNotFound
from dunpai.keys.labels import ensure_standard_keys
from dunpai.keys.store import KeyStore

app = new_app("密钥托管：PKCS#11 令牌或加密软件密钥库 / key custody: PKCS#11 token or encrypted "
                  "software key store.")


def _audit_url(cfg: Settings) -> str | None:
    if cfg.database_url:
        return cfg.database_url
    embedded = cfg.data_dir / "dunpai.db"
    return cfg.db_url if embedded.exists() else None


def _audit(store: KeyStore, cfg: Settings, actor: str, action: str, subject: str, details: dict[str, Any]) -> None:
    url = _audit_url(cfg)
    if url is None:
        return
    from dunpai.audit.log import AuditLog
    from dunpai.core.db import init_schema, make_engine

    engine = make_engine(url)
    try:
        init_schema(engine)
        AuditLog(engine, store).append(actor or getpass.getuser() or "cli", action, subject, details)
    finally:
        engine.dispose()


@app.command("init")
def init(
    backend: BackendOpt = None,
    path: KeyPathOpt = None,
    module: ModuleOpt = None,
    token_label: TokenOpt = None,
    gm: Annotated[bool, typer.Option("--gm", help="国密 SM4 / HMAC-SM3 密钥 / GM/T keys")] = False,
    database_url: DbOpt = None,
    actor: ActorOpt = "",
    kdf_iterations: Annotated[int | None, typer.Option(
        help="新软件库的 Argon2id 轮数 / Argon2id passes for a new store (keystore.kdf.iterations)",
        show_default=False)] = None,
    kdf_memory_mib: Annotated[int | None, typer.Option(
        help="Argon2id 内存 MiB / Argon2id memory (keystore.kdf.memory_mib)", show_default=False)] = None,
    kdf_lanes: Annotated[int | None, typer.Option(
        help="Argon2id 并行度 / Argon2id parallelism (keystore.kdf.lanes)", show_default=False)] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """创建密钥库并生成缺少的标准密钥 / create the store if needed and generate missing standard keys."""
    cfg = settings(config, data_dir, database_url=database_url, keystore__gm=gm or None,
                   keystore__kdf__iterations=kdf_iterations, keystore__kdf__memory_mib=kdf_memory_mib,
                   keystore__kdf__lanes=kdf_lanes, **keystore_flags(backend, path, module, token_label))
    store = open_keys(cfg, create=True)
    try:
        created = ensure_standard_keys(store, gm=cfg.keystore.gm)
        for info in created:
            console.print(f"created {info.key_id} ({info.kind})")
        if not created:
            console.print("all standard keys exist already / 标准密钥均已存在")
        else:
            _audit(store, cfg, actor, "keys.init", f"keystore:{store.backend}",
                   {"created": [i.key_id for i in created]})
    finally:
        store.close()


@app.command("list")
def list_keys(
    backend: BackendOpt = None,
    path: KeyPathOpt = None,
    module: ModuleOpt = None,
    token_label: TokenOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """列出每个有效密钥版本（不含密钥材料） / every live key version with its metadata (never key material)."""
    store = open_keys(settings(config, data_dir, **keystore_flags(backend, path, module, token_label)))
    try:
        infos = store.list()
    finally:
        store.close()
    if as_json:
        print_json([i.to_dict() for i in infos])
        return
    table = Table(title="密钥 / keys")
    id_column(table, "key id", [i.key_id for i in infos])
    for header in ("kind", "state", "created", "backend", "extractable"):
        table.add_column(header)
    for i in infos:
        table.add_row(i.key_id, i.kind, i.state, i.created_at.isoformat(timespec="seconds"), i.backend,
                      "yes" if i.extractable else "no")
    console.print(table)


@app.command("public")
def public_key(
    label: Annotated[str, typer.Argument(help="密钥标签 / label of the key, e.g. evidence-signing")],
    backend: BackendOpt = None,
    path: KeyPathOpt = None,
    module: ModuleOpt = None,
    token_label: TokenOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """打印签名密钥当前版本的公钥（十六进制），供公布与核对 / print the active version's public key (hex) of a
    signing key, to publish and to check against (evidence verify --trusted-key)."""
    from dunpai.risk.cases.signing import fingerprint

    store = open_keys(settings(config, data_dir, **keystore_flags(backend, path, module, token_label)))
    try:
        info = store.find(label)
        public = store.public_key(info.key_id)
    finally:
        store.close()
    if as_json:
        print_json({"key_id": info.key_id, "public_key": public.hex(), "fingerprint": fingerprint(public)})
    else:
        typer.echo(public.hex())


@app.command("rotate")
def rotate(
    label: Annotated[str, typer.Argument(help="要轮换的密钥标签 / label of the key to rotate, e.g. data-kek")],
    backend: BackendOpt = None,
    path: KeyPathOpt = None,
    module: ModuleOpt = None,
    token_label: TokenOpt = None,
    database_url: DbOpt = None,
    actor: ActorOpt = "",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """生成密钥的新版本，旧版本退役但仍可用 / create the next version of a key; older ones stay usable (retired)."""
    cfg = settings(config, data_dir, database_url=database_url, **keystore_flags(backend, path, module, token_label))
    store = open_keys(cfg)
    try:
        try:
            info = store.rotate(label)
        except KeyNotFound:
            console.print(f"[red]no key labelled {label!r} / 没有此标签的密钥[/red]")
            raise typer.Exit(1) from None
        console.print(f"rotated {label}: active version is now {info.key_id}")
        _audit(store, cfg, actor, "keys.rotate", f"key:{label}", {"new_key_id": info.key_id, "kind": info.kind})
    finally:
        store.close()
