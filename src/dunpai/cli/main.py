"""`dunpai` — the command line. Commands call services; they hold no business logic."""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dunpai.core.config import Settings, load_settings
from dunpai.core.errors import DunpaiError

app = typer.Typer(help="Dunpai (盾牌): bank risk control and P2SC secure communication.", no_args_is_help=True)
console = Console()

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML configuration file")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Where the embedded database and state live")]


def settings_from(config: Path | None, data_dir: Path | None) -> Settings:
    overrides = {"data_dir": str(data_dir)} if data_dir is not None else None
    return load_settings(config, overrides)


@app.command()
def serve(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8600,
    insecure_cookies: Annotated[bool, typer.Option(
        "--insecure-cookies", help="Console cookies without the Secure flag (plain HTTP on loopback only)")] = False,
) -> None:
    """Run the decision API (FastAPI + uvicorn) and the analyst console at /console."""
    import uvicorn

    from dunpai.api.app import create_app
    from dunpai.api.auth import Authenticator
    from dunpai.api.cases import install_cases
    from dunpai.core.db import WalCheckpointer
    from dunpai.risk.runtime import open_incidents, open_service
    from dunpai.web import create_console

    settings = settings_from(config, data_dir)
    service = open_service(settings)
    checkpointer = WalCheckpointer(service.db)
    api = create_app(service, Authenticator(service.db, settings.api_keys))
    incidents = open_incidents(service, settings.bank)
    install_cases(api, incidents)
    api.mount("/console", create_console(incidents, service, secure_cookies=not insecure_cookies))
    gc.freeze()  # start-up objects live forever: keep the cyclic collector off them
    try:
        # No proxy-header rewriting: Dunpai never uses a client's address (nor stores one).
        uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False, proxy_headers=False)
    finally:
        checkpointer.stop()
        service.close()


@app.command()
def apikey(
    role: Annotated[str, typer.Option(help="integrator, analyst, supervisor or admin")],
    name: Annotated[str, typer.Option(help="Who or what uses the key")] = "cli",
    tenant: Annotated[str, typer.Option(help="Tenant the key belongs to")] = "default",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Create an API key; it is printed once and stored only as a digest."""
    from dunpai.api.auth import create_api_key
    from dunpai.audit import AuditLog
    from dunpai.core.db import init_schema, make_engine
    from dunpai.risk.runtime import open_keys

    settings = settings_from(config, data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = make_engine(settings.db_url)
    init_schema(db)
    typer.echo(create_api_key(db, name, role, tenant, AuditLog(db, open_keys(settings))))


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="Events as JSONL or Parquet")],
    tenant: Annotated[str, typer.Option(help="Tenant of the events")] = "default",
    out: Annotated[Path | None, typer.Option("--out", help="Write decisions here as JSONL")] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Decide every event of FILE through the same path as the API, with a progress bar."""
    from dunpai.risk.replay import replay_file
    from dunpai.risk.runtime import open_service

    service = open_service(settings_from(config, data_dir))
    try:
        summary = replay_file(service, file, tenant, out, console)
    finally:
        service.close()
    console.print(summary)


@app.command()
def explain(
    decision_id: Annotated[str, typer.Argument(help="Decision id (dec_...)")],
    tenant: Annotated[str, typer.Option(help="Tenant")] = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Why a decision was made: each rule's result with the values it saw, and the customer text."""
    from dunpai.risk.report import print_explanation
    from dunpai.risk.runtime import open_service

    service = open_service(settings_from(config, data_dir))
    try:
        explanation = service.explain(tenant, decision_id)
    finally:
        service.close()
    if as_json:
        typer.echo(json.dumps(explanation, ensure_ascii=False, indent=2))
    else:
        print_explanation(console, explanation)


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Demo database directory")] = Path(".dunpai-demo"),
    json_path: Annotated[Path | None, typer.Option("--json", help="Write one object per event here")] = None,
    customers: Annotated[int, typer.Option(help="Customers in the normal traffic")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed of the traffic")] = 7,
    evidence_dir: Annotated[Path | None, typer.Option(
        "--evidence-dir", help="Evidence bundles, police reports and notices (default: DATA_DIR/evidence)")] = None,
) -> None:
    """Replay the source's cases mixed into a day of normal traffic, show each decision, then open
    the cases, freeze with dual control, export evidence and settle compensation."""
    from dunpai.risk.demo.run import run_demo

    raise typer.Exit(run_demo(data_dir, json_path, customers, seed, console, evidence_dir or data_dir / "evidence"))


def _mount() -> None:
    """Sub-command groups of the other parts."""
    from dunpai.audit.cli import app as audit_app
    from dunpai.comms.cli import app as comms_app
    from dunpai.keys.cli import app as keys_app
    from dunpai.risk.backtest.cli import backtest, eval_app, models_app, train
    from dunpai.risk.cases.cli import app as evidence_app
    from dunpai.risk.cases.cli import cases_app, staff_app
    from dunpai.risk.compromise.cli import compromise

    app.add_typer(keys_app, name="keys", help="Key custody: init, list, rotate.")
    app.add_typer(audit_app, name="audit", help="The audit chain: verify, checkpoint.")
    app.add_typer(evidence_app, name="evidence", help="Evidence bundles of fraud cases: export, verify.")
    app.add_typer(cases_app, name="cases", help="Fraud cases: the queue and one case.")
    app.add_typer(staff_app, name="staff", help="Console staff users.")
    app.add_typer(comms_app, name="comms", help="P2SC end-to-end encrypted communication.")
    eval_app.command("compromise")(compromise)
    app.add_typer(eval_app, name="eval", help="Detection quality under published protocols.")
    app.add_typer(models_app, name="models", help="The model registry: list, promote.")
    app.command("train")(train)
    app.command("backtest")(backtest)


_mount()


def main() -> None:
    try:
        app()
    except DunpaiError as exc:
        Console(stderr=True).print(f"[red]error[/red] {exc.code}: {exc.message}")
        for p in exc.problems:
            Console(stderr=True).print(f"  {p.field}: {p.problem}")
        sys.exit(2)


if __name__ == "__main__":
    main()
