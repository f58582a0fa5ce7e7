"""Commands: ``eval handbook|ulb``, ``train``, ``backtest``, ``models list|promote``.

The lead mounts them into ``dunpai``; meanwhile ``python -m dunpai.risk.backtest.cli --help``.
Transport only: each command parses, calls one function of ``run`` / the registry, prints. The
heavy modules (pandas, scikit-learn, LightGBM, matplotlib) are imported inside the commands, so
that mounting these commands costs every other ``dunpai`` command nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

console = Console(stderr=True)
HANDBOOK_EVENTS = 1_754_155 + 14_681

eval_app = typer.Typer(help="Measure detection quality on external data under published protocols.",
                       no_args_is_help=True)
models_app = typer.Typer(help="The model registry: list versions, promote the challenger.", no_args_is_help=True)
app = typer.Typer(help="Dunpai detection quality: evaluation, training, rule backtests.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
app.add_typer(models_app, name="models")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Handbook Parquet folder "
                                              "(default: $DUNPAI_HANDBOOK_DIR or ../shared/data/handbook).")]
RegistryDir = Annotated[Path, typer.Option("--registry", envvar="DUNPAI_MODEL_REGISTRY",
                                           help="Model registry folder (the service deploys its champion when "
                                                "$DUNPAI_MODEL_REGISTRY or <data_dir>/models names it).")]
DEFAULT_REGISTRY = Path(".dunpai-models")


def _say(message: str) -> None:
    console.print(message)


@contextmanager
def progress_bar(label: str, total: int) -> Iterator[Callable[[int], None]]:
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)

        def advance(done: int) -> None:
            bar.update(task, completed=done)

        yield advance


def _day(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@eval_app.command("handbook")
def eval_handbook(
    protocol: Annotated[str, typer.Option(help="baseline | prequential")] = "prequential",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results (and charts beside them).")] = None,
    data_dir: DataDir = None,
    charts: Annotated[bool, typer.Option(help="Write PNG and HTML charts next to the JSON.")] = True,
) -> None:
    """The Handbook's protocol exactly: label delay, known-compromised cards removed, AUC/AP/CP@100."""
    from dunpai.risk.backtest import run
    from dunpai.risk.backtest.protocol import PROTOCOLS

    if protocol not in PROTOCOLS:
        raise typer.BadParameter(f"--protocol must be one of {', '.join(PROTOCOLS)}")
    with progress_bar("replaying events through the engine", HANDBOOK_EVENTS) as advance:
        out = run.handbook_eval(protocol, data_dir or run.data_dir(), json_path, _say, advance, charts)
    table = Table(title=f"Handbook, {protocol} protocol (mean over {len(out['folds'])} fold(s))")
    for col in ("model", "AUC ROC", "AP", "CP@100"):
        table.add_column(col)
    rows = [("dunpai engine", out["mean"]), *((f"book {b}", r["mean"]) for b, r in out["baselines"].items())]
    for name, m in rows:
        table.add_row(name, f"{m['auc_roc']:.3f}", f"{m['average_precision']:.3f}",
                      f"{m['card_precision_at_100']:.3f}")
    Console().print(table)


@eval_app.command("ulb")
def eval_ulb(
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results (and charts beside them).")] = None,
    charts: Annotated[bool, typer.Option(help="Write PNG and HTML charts next to the JSON.")] = True,
) -> None:
    """ULB card data, Fraud Dataset Benchmark protocol (downloaded on demand; skipped if unavailable)."""
    from dunpai.risk.backtest import run

    with progress_bar("replaying ULB events through the engine", 284_807) as advance:
        out = run.ulb_eval(json_path, _say, advance, charts)
    if out is None:
        raise typer.Exit(0)
    Console().print(f"AUC ROC {out['auc_roc']:.4f}   recall at 1 % FPR {out['recall_at_1pct_fpr']:.3f}")


@app.command("train")
def train(
    train_from: Annotated[str, typer.Option(help="First training day (YYYY-MM-DD).")] = "2018-08-15",
    train_to: Annotated[str, typer.Option(help="Last training day.")] = "2018-08-19",
    valid_from: Annotated[str, typer.Option(help="First validation day (after training).")] = "2018-08-20",
    valid_to: Annotated[str, typer.Option(help="Last validation day.")] = "2018-08-21",
    registry: RegistryDir = DEFAULT_REGISTRY,
    role: Annotated[str, typer.Option(help="challenger | champion")] = "challenger",
    data_dir: DataDir = None,
) -> None:
    """Fit LightGBM on a window of replayed engine features, early-stop and calibrate on a later one,
    and register the versioned artefact."""
    import numpy as np

    from dunpai.risk.backtest import run
    from dunpai.risk.backtest.evaluate import ENGINE_PARAMS, model_features
    from dunpai.risk.backtest.protocol import rows_between
    from dunpai.risk.models.registry import Registry
    from dunpai.risk.models.train import fit

    t0, t1, v0, v1 = (_day(x) for x in (train_from, train_to, valid_from, valid_to))
    if not t0 <= t1 < v0 <= v1:
        raise typer.BadParameter("windows must be ordered: train-from <= train-to < valid-from <= valid-to")
    if role not in ("challenger", "champion"):
        raise typer.BadParameter("--role must be challenger or champion")
    with progress_bar("replaying events through the engine", HANDBOOK_EVENTS) as advance:
        data, replayed, key = run.load_replay(data_dir or run.data_dir(), _say, advance)
    tx, feats = data.transactions, replayed.features
    names = model_features(feats)
    tr = rows_between(tx, t0, t1 + timedelta(days=1))
    va = rows_between(tx, v0, v1 + timedelta(days=1))
    x = feats[names].to_numpy()
    y = tx.TX_FRAUD.to_numpy().astype(np.float64)
    fitted = fit(x[tr], y[tr], x[va], y[va], names, ENGINE_PARAMS)
    window = {"train_from": train_from, "train_to": train_to, "valid_from": valid_from, "valid_to": valid_to,
              "data": "fraud-detection-handbook", "replay": key}
    version = Registry(registry).register(fitted, window, role=role)
    took = "champion" if Registry(registry).role("champion") == version else role
    Console().print(f"registered {version} as {took}: {fitted.best_iteration} trees, "
                    f"validation AP {fitted.metrics['valid_average_precision']:.3f}")


@models_app.command("list")
def models_list(registry: RegistryDir = DEFAULT_REGISTRY,
                as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Registered model versions with their role, window and validation metrics."""
    from dunpai.risk.models.registry import Registry

    infos = Registry(registry).versions()
    if as_json:
        print(json.dumps([{"version": i.version, "role": i.role, "data_window": i.meta["data_window"],
                           "metrics": i.meta["metrics"]} for i in infos], indent=2))
        return
    table = Table(title=f"models in {registry}")
    for col in ("version", "role", "train", "valid AP", "trees"):
        table.add_column(col)
    for i in infos:
        w = i.meta["data_window"]
        table.add_row(i.version, i.role or "", f"{w.get('train_from')} .. {w.get('train_to')}",
                      f"{i.meta['metrics'].get('valid_average_precision', float('nan')):.3f}",
                      str(i.meta["best_iteration"]))
    Console().print(table)


@models_app.command("promote")
def models_promote(version: Annotated[str | None, typer.Argument(help="Version (default: the challenger).")] = None,
                   registry: RegistryDir = DEFAULT_REGISTRY) -> None:
    """Make the challenger (or VERSION) the champion."""
    from dunpai.risk.models.registry import Registry, UnknownModel

    try:
        promoted = Registry(registry).promote(version)
    except UnknownModel as exc:
        console.print(f"[red]no such model: {exc}[/red]")
        raise typer.Exit(1) from None
    Console().print(f"{promoted} is now the champion")


@app.command("backtest")
def backtest(
    ruleset: Annotated[Path, typer.Option(help="Draft ruleset YAML.", exists=True, dir_okay=False)],
    date_from: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")] = "2018-04-01",
    date_to: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD).")] = "2018-09-30",
    published: Annotated[Path | None, typer.Option(help="Published ruleset (default: the built-in default).",
                                                   exists=True, dir_okay=False)] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results (and chart beside them).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Replay history and report each rule's hits, precision, recall, alerts/day and overlap, and the
    draft's difference from the published ruleset."""
    from dunpai.risk.backtest import run

    start, end = _day(date_from), _day(date_to)
    with progress_bar("evaluating rules", 2 * HANDBOOK_EVENTS) as advance:
        out = run.backtest(ruleset, start, end, data_dir or run.data_dir(), json_path, _say, published, advance)
    table = Table(title=f"rule backtest {start} .. {end} "
                        f"({out['transactions']:,} transactions, {out['frauds']:,} frauds)")
    for col in ("rule", "hits", "precision", "recall", "alerts/day"):
        table.add_column(col)
    for r in out["rules"]:
        table.add_row(r["rule_id"], f"{r['hits']:,}", "-" if r["precision"] is None else f"{r['precision']:.3f}",
                      "-" if r["recall"] is None else f"{r['recall']:.3f}", f"{r['alerts_per_day']:.1f}")
    Console().print(table)
    d = out["difference"]
    Console().print(f"draft vs published: +{d['extra_frauds_caught']} frauds caught, "
                    f"-{d['frauds_no_longer_caught']} lost, +{d['extra_alerts']} alerts, -{d['alerts_removed']} alerts")


if __name__ == "__main__":
    app()
