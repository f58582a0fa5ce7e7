"""What every ``dunpai`` command shares: the options that mean the same everywhere, loading the
settings (file, environment, flags: ``docs/configuration.md``), opening the key store by the one
convention, and output that stays whole when it is piped."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer._click.core import Context as ClickContext  # the Click that this Typer ships
from typer.core import TyperGroup

from dunpai.core.config import Settings, load_settings
from dunpai.core.errors import DunpaiError, InvalidInput
from dunpai.keys.errors import DecryptionFailed
from dunpai.keys.location import Prompt, open_configured
from dunpai.keys.store import KeyStore

# Piped output is read by programs and people's pagers: wide enough that tables are not cut to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)
errors = Console(stderr=True)
CONTEXT = {"help_option_names": ["-h", "--help"]}


class Commands(TyperGroup):
    """A command group that reports a domain error (stable code, message, each bad field) and exits
    2, however it is invoked: as ``dunpai``, as a sub-group run on its own, or from a test runner."""

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except DunpaiError as exc:
            report(exc)
            raise typer.Exit(2) from None


def new_app(help_text: str) -> typer.Typer:
    """A ``dunpai`` command group: bilingual help, ``-h``, domain errors reported alike."""
    return typer.Typer(help=help_text, no_args_is_help=True, cls=Commands, context_settings=CONTEXT)

ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="设置文件 / YAML settings file (also DUNPAI_CONFIG)", show_default=False)]
DataDirOpt = Annotated[Path | None, typer.Option(
    "--data-dir", help="数据目录：数据库、状态与密钥库 / data directory: database, state and key store "
    "(default .dunpai)", show_default=False)]
TenantOpt = Annotated[str, typer.Option("--tenant", help="租户 / tenant")]
JsonOpt = Annotated[bool, typer.Option("--json", help="输出 JSON / print JSON")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="写入文件 / write to this file", show_default=False)]
BackendOpt = Annotated[str | None, typer.Option(
    "--backend", help="密钥库类型 / key store: software or pkcs11 (keystore.backend)", show_default=False)]
KeyPathOpt = Annotated[Path | None, typer.Option(
    "--path", help="软件密钥库文件 / software key store file (default DATA_DIR/keys/keystore.dpks)",
    show_default=False)]
ModuleOpt = Annotated[str | None, typer.Option(
    "--module", help="PKCS#11 模块 / module (default: SoftHSM2 when installed)", show_default=False)]
TokenOpt = Annotated[str | None, typer.Option("--token-label", help="PKCS#11 令牌标签 / token label",
                                              show_default=False)]
DbOpt = Annotated[str | None, typer.Option(
    "--database-url", help="数据库 / database URL (default: the data directory's SQLite file)", show_default=False)]
ActorOpt = Annotated[str, typer.Option("--actor", help="操作人（写入审计链） / who acts (written to the audit chain)")]


def settings(config: Path | None = None, data_dir: Path | None = None, **flags: Any) -> Settings:
    """The settings of this command: file, environment, then the flags given (``None``: not given).
    Nested flags use ``__``: ``server__port=8601``."""
    tree: dict[str, Any] = {}
    if data_dir is not None:
        tree["data_dir"] = data_dir
    for name, value in flags.items():
        if value is None:
            continue
        node = tree
        *sections, leaf = name.split("__")
        for part in sections:
            node = node.setdefault(part, {})
        node[leaf] = value
    try:
        return load_settings(config, tree)
    except InvalidInput as exc:  # here, not in main(): a sub-app run on its own reports it alike
        report(exc)
        raise typer.Exit(2) from None


def report(exc: DunpaiError) -> None:
    """A domain error on stderr: its stable code, message and each problem's field."""
    errors.print(f"[red]错误 / error[/red] {escape(exc.code)}: {escape(exc.message)}", highlight=False)
    for p in exc.problems:
        errors.print(f"  {escape(p.field)}: {escape(p.problem)}", highlight=False)


def keystore_flags(backend: str | None, path: Path | None, module: str | None, token_label: str | None
                   ) -> dict[str, Any]:
    """The key store options as settings flags."""
    return {"keystore__backend": backend, "keystore__path": path, "keystore__module": module,
            "keystore__token_label": token_label}


def terminal_prompt() -> Prompt | None:
    """Ask on the terminal; ``None`` when no one is there to answer (a pipe, a script, CI)."""
    if not sys.stdin.isatty():
        return None

    def ask(what: str, confirm: bool) -> str:
        answer: str = typer.prompt(what, hide_input=True, confirmation_prompt=confirm)
        return answer

    return ask


def open_keys(cfg: Settings, *, create: bool = False, directory: Path | None = None) -> KeyStore:
    """The key store of this command's directory (the data directory unless given), by the one
    convention; services' stores are created with a remembered passphrase."""
    try:
        return open_configured(cfg.keystore, directory or cfg.data_dir, create=create, remember=True,
                               prompt=terminal_prompt())
    except DecryptionFailed:
        errors.print("[red]无法打开密钥库 / cannot open the key store (wrong passphrase or damaged file)[/red]")
        raise typer.Exit(2) from None


def id_column(table: Table, header: str, ids: list[str]) -> None:
    """A column of ids that is never cut short, terminal or pipe."""
    table.add_column(header, no_wrap=True, min_width=max((len(i) for i in ids), default=len(header)))


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))
