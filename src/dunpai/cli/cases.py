"""``dunpai cases list|show``, ``dunpai evidence export|verify`` and ``dunpai staff add``: commands
call the incident services only.

``export`` signs with the ``evidence-signing`` key of the data directory's key store (a standard
key, made with the store); it never creates a key store, nor a signing key nobody published.
``verify`` needs no database or key store: it checks the bundle against its manifest and
signature, and that the signer is the bank's published evidence key (``--trusted-key``, printed by
``dunpai keys public evidence-signing``). Exit status: 0 intact and signed by the trusted key,
1 altered (each problem is named), 2 usage, 3 intact but the signer unverified (no
``--trusted-key``; ``--allow-untrusted`` accepts that with exit 0).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from dunpai.cli.common import (
    ActorOpt,
    BackendOpt,
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    KeyPathOpt,
    ModuleOpt,
    TenantOpt,
    TokenOpt,
    console,
    id_column,
    keystore_flags,
    new_app,
    open_keys,
    print_json,
    settings,
)
from dunpai.core.config import Settings, secret
from dunpai.core.errors import StateError
from dunpai.keys.errors import KeyNotFound
from dunpai.keys.labels import EVIDENCE_SIGNING
from dunpai.keys.store import KeyStore

if TYPE_CHECKING:
    from dunpai.risk.cases.incidents import Incidents

evidence_app = new_app("案件证据包：导出、校验 / evidence bundles of fraud cases: export, verify.")
cases_app = new_app("欺诈案件：队列与单个案件 / fraud cases: the queue and one case.")
staff_app = new_app("控制台员工账户（Argon2id 口令） / console staff users (Argon2id passwords).")
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="只输出案件编号 / print only the case ids")]


def _incidents(cfg: Settings, store: KeyStore) -> Incidents:
    """The facade over the configured database; the key store signs evidence and audit checkpoints."""
    from dunpai.audit import AuditLog
    from dunpai.core.db import init_schema, make_engine
    from dunpai.core.i18n import Text
    from dunpai.risk.cases import Incidents, KeyStoreSigner
    from dunpai.risk.cases.notices import Bank

    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    db = make_engine(cfg.db_url)
    init_schema(db)
    bank = Bank(Text(cfg.bank.name_zh, cfg.bank.name_en), cfg.bank.hotline)
    return Incidents(db, AuditLog(db, store), signer=KeyStoreSigner(store), bank=bank)


@evidence_app.command("export")
def export(
    case_id: Annotated[str, typer.Argument(help="案件编号 / case id (cas_...)")],
    out: Annotated[Path, typer.Option("--out", help="证据包目录（新建，须为空） / bundle directory (created; "
                                      "must be empty)")],
    tenant: TenantOpt = "default",
    actor: ActorOpt = "cli",
    backend: BackendOpt = None,
    path: KeyPathOpt = None,
    module: ModuleOpt = None,
    token_label: TokenOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """收集案件证据并写出签名证据包 / collect the case's evidence and write a signed bundle to OUT."""
    from dunpai.risk.cases import Staff

    cfg = settings(config, data_dir, **keystore_flags(backend, path, module, token_label))
    store = open_keys(cfg)  # the data directory's own store: never a new one
    try:
        try:
            store.find(EVIDENCE_SIGNING)
        except KeyNotFound:
            raise StateError("the key store has no evidence-signing key: run `dunpai keys init` and publish "
                             "`dunpai keys public evidence-signing` before exporting") from None
        manifest = _incidents(cfg, store).export_evidence(Staff(actor, "analyst", tenant), case_id, out)
    finally:
        store.close()
    console.print(f"wrote {manifest.parent} (manifest {manifest.name}) / 证据包已写出")


@evidence_app.command("verify")
def verify(
    bundle: Annotated[Path, typer.Argument(help="证据包目录 / bundle directory")],
    trusted_key: Annotated[str | None, typer.Option(
        "--trusted-key", help="银行公布的证据公钥（64 位十六进制，dunpai keys public evidence-signing） / the bank's "
        "published evidence public key (64 hex, dunpai keys public evidence-signing)")] = None,
    allow_untrusted: Annotated[bool, typer.Option(
        "--allow-untrusted", help="不核对签名者也退出 0 / exit 0 for an intact bundle whose signer was not checked")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """证据包完好且由受信密钥签名时退出 0；有改动时退出 1；签名者未核对时退出 3 / exit 0 when the bundle is intact
    and signed by the trusted key; 1, naming each problem, when anything was changed, added or removed; 3 when
    intact but its signer was not checked against a trusted key."""
    from dunpai.risk.cases.bundle import verify_bundle

    key = None
    if trusted_key is not None:
        try:
            key = bytes.fromhex(trusted_key)
        except ValueError:
            raise typer.BadParameter("must be hex", param_hint="--trusted-key") from None
    report = verify_bundle(bundle, key)
    trusted = key is not None
    if as_json:
        typer.echo(json.dumps({**report.to_dict(), "signer_verified": trusted and report.ok}, ensure_ascii=False,
                              indent=1))
    elif report.ok:
        console.print(f"[green]intact[/green] 证据包完好: case {report.case_id}, {report.files_checked} files, "
                      f"signed by {report.key_id} ({report.signer_fingerprint})")
        if not trusted:
            console.print("[yellow]signer NOT verified[/yellow] 签名者未核对: anyone can sign a bundle with a key of "
                          "their own; compare the fingerprint above with the bank's published one, or pass "
                          "--trusted-key (dunpai keys public evidence-signing)")
    else:
        console.print(f"[red]ALTERED[/red] 证据包已被改动: {len(report.problems)} problem(s)")
        for p in report.problems:
            console.print(f"  - {p}")
    if not report.ok:
        raise typer.Exit(1)
    raise typer.Exit(0 if trusted or allow_untrusted else 3)


@cases_app.command("list")
def list_cases(tenant: TenantOpt = "default", as_json: JsonOpt = False, quiet: QuietOpt = False,
               backend: BackendOpt = None, path: KeyPathOpt = None, module: ModuleOpt = None,
               token_label: TokenOpt = None, config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """案件队列：未结案件，最可能的欺诈在前 / the queue: open cases, most likely fraud first."""
    from dunpai.risk.cases import Staff

    cfg = settings(config, data_dir, **keystore_flags(backend, path, module, token_label))
    store = open_keys(cfg)
    try:
        cases = _incidents(cfg, store).cases.queue(Staff("cli", "supervisor", tenant))
    finally:
        store.close()
    if quiet:
        for c in cases:
            typer.echo(c.case_id)
        return
    if as_json:
        print_json([c.to_dict() for c in cases])
        return
    table = Table(title="案件队列 / case queue")
    id_column(table, "case", [c.case_id for c in cases])
    for header in ("status", "priority", "at risk (CNY)", "alerts", "title"):
        table.add_column(header)
    for c in cases:
        table.add_row(c.case_id, c.status, str(c.priority), f"{c.amount_at_risk / 100:,.2f}", str(c.alert_count),
                      f"{c.title.zh} / {c.title.en}")
    console.print(table)
    if not cases:
        console.print("没有未结案件 / no open cases")


@cases_app.command("show")
def show_case(case_id: Annotated[str, typer.Argument(help="案件编号 / case id (cas_...)")],
              tenant: TenantOpt = "default", backend: BackendOpt = None, path: KeyPathOpt = None,
              module: ModuleOpt = None, token_label: TokenOpt = None, config: ConfigOpt = None,
              data_dir: DataDirOpt = None) -> None:
    """单个案件的 JSON（告警、时间线、处置、通知、争议、证据） / one case as JSON (alerts, timeline, actions,
    notices, disputes, evidence headers)."""
    from dunpai.risk.cases import Staff

    cfg = settings(config, data_dir, **keystore_flags(backend, path, module, token_label))
    store = open_keys(cfg)
    try:
        detail = _incidents(cfg, store).cases.detail(Staff("cli", "supervisor", tenant), case_id)
    finally:
        store.close()
    typer.echo(json.dumps(detail, ensure_ascii=False, indent=1))


@staff_app.callback()
def _staff() -> None:
    """控制台员工账户（Argon2id 口令） / console staff users (Argon2id passwords)."""


@staff_app.command("add")
def add_staff(
    username: Annotated[str, typer.Argument(help="登录名 / sign-in name")],
    role: Annotated[str, typer.Option(help="角色 / role: analyst, supervisor or admin")],
    tenant: Annotated[str, typer.Option("--tenant", help="员工所属租户 / tenant the user works for")] = "default",
    display_name: Annotated[str | None, typer.Option(help="控制台显示名 / name shown in the console")] = None,
    employee_id: Annotated[str | None, typer.Option(
        help="员工号（用于员工数据访问事件） / employee id (for staff data-access events)")] = None,
    branch_id: Annotated[str, typer.Option(help="员工所属网点 / branch of the employee")] = "hq",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """创建控制台用户；口令来自 DUNPAI_STAFF_PASSWORD 或终端提示，从不来自参数 / create a console user; the
    password comes from DUNPAI_STAFF_PASSWORD or a terminal prompt, never an argument."""
    from dunpai.core.db import init_schema, make_engine
    from dunpai.web.staff import create_staff

    cfg = settings(config, data_dir)
    password = secret(cfg.console.staff_password)
    if password is None:
        if not sys.stdin.isatty():
            raise typer.BadParameter("set DUNPAI_STAFF_PASSWORD (no terminal to ask on)", param_hint="password")
        password = typer.prompt("口令 / password", hide_input=True, confirmation_prompt=True)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    db = make_engine(cfg.db_url)
    init_schema(db)
    user = create_staff(db, username, password, role, tenant=tenant, display_name=display_name,
                        employee_id=employee_id, branch_id=branch_id, now=time.time())
    console.print(f"created {user.username} ({user.role}, tenant {user.tenant}) / 已创建")
