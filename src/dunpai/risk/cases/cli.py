"""`dunpai evidence export|verify` and `dunpai cases list|show`: commands call services only.

``export`` signs with the key store's ``evidence-signing`` key (created on first use; the key
store options are those of ``dunpai keys``). ``verify`` needs no database or key store: it checks
the bundle against its manifest and signature, and, with ``--trusted-key``, that the signer is the
bank's published evidence key. Exit status: 0 intact, 1 altered (each problem is named), 2 usage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from dunpai.keys.cli_options import DEFAULT_PATH, BackendOpt, ModuleOpt, PathOpt, TokenOpt, keystore_from_options
from dunpai.keys.store import KeyStore

if TYPE_CHECKING:
    from dunpai.risk.cases.incidents import Incidents

app = typer.Typer(help="Evidence bundles of fraud cases: export and verify.", no_args_is_help=True)
cases_app = typer.Typer(help="Fraud cases: the queue and one case.", no_args_is_help=True)
console = Console()

DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Where the embedded database lives")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML configuration file")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant of the case")]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who exports (written to the audit chain)")]


def _incidents(config: Path | None, data_dir: Path | None, store: KeyStore) -> Incidents:
    """The facade over the configured database; the key store signs evidence and audit checkpoints."""
    from dunpai.audit import AuditLog
    from dunpai.core.config import load_settings
    from dunpai.core.db import init_schema, make_engine
    from dunpai.risk.cases import AuditLogSink, Incidents, KeyStoreSigner

    settings = load_settings(config, {"data_dir": str(data_dir)} if data_dir is not None else None)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = make_engine(settings.db_url)
    init_schema(db)
    return Incidents(db, AuditLogSink(AuditLog(db, store)), signer=KeyStoreSigner(store))


@app.command("export")
def export(
    case_id: Annotated[str, typer.Argument(help="Case id (cas_...)")],
    out: Annotated[Path, typer.Option("--out", help="Bundle directory (created; must be empty)")],
    tenant: TenantOpt = "default",
    actor: ActorOpt = "cli",
    backend: BackendOpt = "software",
    path: PathOpt = DEFAULT_PATH,
    module: ModuleOpt = None,
    token_label: TokenOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Collect the case's evidence and write a signed bundle to OUT."""
    from dunpai.risk.cases import Staff

    store = keystore_from_options(backend, path, module, token_label, create=True)
    try:
        manifest = _incidents(config, data_dir, store).export_evidence(Staff(actor, "analyst", tenant), case_id, out)
    finally:
        store.close()
    console.print(f"wrote {manifest.parent} (manifest {manifest.name})")


@app.command("verify")
def verify(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory")],
    trusted_key: Annotated[str | None, typer.Option("--trusted-key",
                                                    help="The bank's evidence public key (64 hex)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Exit 0 when the bundle is intact; 1, naming each problem, when anything was changed, added or
    removed."""
    from dunpai.risk.cases.bundle import verify_bundle

    key = None
    if trusted_key is not None:
        try:
            key = bytes.fromhex(trusted_key)
        except ValueError:
            raise typer.BadParameter("--trusted-key must be hex") from None
    report = verify_bundle(bundle, key)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=1))
    elif report.ok:
        console.print(f"[green]intact[/green] 证据包完好: case {report.case_id}, {report.files_checked} files, "
                      f"signed by {report.key_id} ({report.signer_fingerprint})")
    else:
        console.print(f"[red]ALTERED[/red] 证据包已被改动: {len(report.problems)} problem(s)")
        for p in report.problems:
            console.print(f"  - {p}")
    raise typer.Exit(0 if report.ok else 1)


@cases_app.command("list")
def list_cases(tenant: TenantOpt = "default", backend: BackendOpt = "software", path: PathOpt = DEFAULT_PATH,
               module: ModuleOpt = None, token_label: TokenOpt = None, config: ConfigOpt = None,
               data_dir: DataDirOpt = None) -> None:
    """The queue: open cases, most likely fraud first."""
    from rich.table import Table

    from dunpai.risk.cases import Staff

    store = keystore_from_options(backend, path, module, token_label)
    try:
        cases = _incidents(config, data_dir, store).cases.queue(Staff("cli", "supervisor", tenant))
    finally:
        store.close()
    table = Table("case", "status", "priority", "at risk (CNY)", "alerts", "title")
    for c in cases:
        table.add_row(c.case_id, c.status, str(c.priority), f"{c.amount_at_risk / 100:,.2f}", str(c.alert_count),
                      f"{c.title.zh} / {c.title.en}")
    console.print(table)


@cases_app.command("show")
def show_case(case_id: str, tenant: TenantOpt = "default", backend: BackendOpt = "software",
              path: PathOpt = DEFAULT_PATH, module: ModuleOpt = None, token_label: TokenOpt = None,
              config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """One case as JSON (alerts, timeline, actions, notices, disputes, evidence headers)."""
    from dunpai.risk.cases import Staff

    store = keystore_from_options(backend, path, module, token_label)
    try:
        detail = _incidents(config, data_dir, store).cases.detail(Staff("cli", "supervisor", tenant), case_id)
    finally:
        store.close()
    typer.echo(json.dumps(detail, ensure_ascii=False, indent=1))


staff_app = typer.Typer(help="Console staff users (Argon2id passwords).", no_args_is_help=True)


@staff_app.callback()
def _staff() -> None:
    """Console staff users (Argon2id passwords)."""


@staff_app.command("add")
def add_staff(
    username: Annotated[str, typer.Argument(help="Sign-in name")],
    role: Annotated[str, typer.Option(help="analyst, supervisor or admin")],
    tenant: TenantOpt = "default",
    display_name: Annotated[str | None, typer.Option(help="Name shown in the console")] = None,
    employee_id: Annotated[str | None, typer.Option(help="Employee id (for staff data-access events)")] = None,
    branch_id: Annotated[str, typer.Option(help="Branch of the employee")] = "hq",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Create a console user. The password comes from DUNPAI_STAFF_PASSWORD or a prompt, never an argument."""
    import os
    import time

    from dunpai.core.config import load_settings
    from dunpai.core.db import init_schema, make_engine
    from dunpai.web.staff import create_staff

    password = os.environ.get("DUNPAI_STAFF_PASSWORD") or typer.prompt("Password", hide_input=True,
                                                                         confirmation_prompt=True)
    settings = load_settings(config, {"data_dir": str(data_dir)} if data_dir is not None else None)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = make_engine(settings.db_url)
    init_schema(db)
    user = create_staff(db, username, password, role, tenant=tenant, display_name=display_name,
                        employee_id=employee_id, branch_id=branch_id, now=time.time())
    console.print(f"created {user.username} ({user.role}, tenant {user.tenant})")
