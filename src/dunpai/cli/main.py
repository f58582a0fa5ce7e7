"""The ``dunpai`` command: every sub-command mounted on one Typer app, and the one place that turns
a domain error into a message and exit status 2. Commands call services; they hold no business
logic. Each command is its process's composition root: it loads the settings (file, environment,
flags) and builds the objects it needs from them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from dunpai import __version__
from dunpai.cli.common import new_app, report
from dunpai.core.errors import DunpaiError
from dunpai.core.files import private_umask

app = new_app("盾牌 Dunpai：银行风险控制与 P2SC 安全通信 / bank risk control and P2SC secure communication.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dunpai {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", "-V", callback=_version, is_eager=True, help="显示版本 / show the version and exit")] = False,
          ) -> None:
    """盾牌 Dunpai：银行风险控制与 P2SC 安全通信 / bank risk control and P2SC secure communication."""


def _mount() -> None:
    from dunpai.cli import apikeys, audit, cases, cluster, comms, compromise, history, keys, risk

    for command in (risk.serve, risk.replay, risk.explain, risk.demo):
        app.command()(command)
    app.add_typer(apikeys.app, name="apikey")
    app.add_typer(keys.app, name="keys")
    app.add_typer(audit.app, name="audit")
    app.add_typer(cases.evidence_app, name="evidence")
    app.add_typer(cases.cases_app, name="cases")
    app.add_typer(cases.staff_app, name="staff")
    app.add_typer(comms.app, name="comms")
    app.add_typer(cluster.app, name="cluster")
    app.command("import")(history.import_)
    app.command("train")(history.train)
    history.eval_app.command("compromise")(compromise.compromise)
    app.add_typer(history.eval_app, name="eval")
    app.command("backtest")(history.backtest)
    app.add_typer(history.models_app, name="models")


_mount()


def main() -> None:
    private_umask()  # data directories 0700, files 0600: whatever this process creates (core.files)
    try:
        app()
    except DunpaiError as exc:
        report(exc)
        sys.exit(2)
