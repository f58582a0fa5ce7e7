"""``dunpai eval compromise``: skimmer hunting measured on the Handbook's history with an injected,
documented skimming scenario (every scenario parameter is an option).

The lead's CLI mounts this with ``eval_app.command("compromise")(compromise)`` (or adds ``app``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dunpai.risk.compromise.evaluate import evaluate
from dunpai.risk.compromise.model import CompromiseConfig
from dunpai.risk.compromise.scenario import SkimmingScenario, inject, load_handbook_background

DEFAULT_DATA = Path(os.environ.get("DUNPAI_HANDBOOK_DIR", "../shared/data/handbook"))
_S = SkimmingScenario()
_C = CompromiseConfig()

app = typer.Typer(help="Measurements (评估).", no_args_is_help=True)


def run_compromise_eval(
    scenario: SkimmingScenario, config: CompromiseConfig, data_dir: Path, console: Console | None = None
) -> dict[str, Any]:
    """Load the background, inject the scenario, replay labels through the job; the metrics dict."""
    console = console or Console(stderr=True)
    with console.status("loading the Handbook history / 加载手册数据"):
        background = load_handbook_background(data_dir)
        truth = inject(background, scenario)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("replaying labels / 回放标签", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = evaluate(truth, config, progress=tick)
    result["detail"]["summary"] = truth.summary()
    return result


@app.command("compromise")
def compromise(
    json_path: Annotated[Path | None, typer.Option("--json", help="write the metrics here as JSON")] = None,
    data_dir: Annotated[Path, typer.Option(help="Handbook parquet folder ($DUNPAI_HANDBOOK_DIR)")] = DEFAULT_DATA,
    terminals: Annotated[int, typer.Option(help="skimmed terminals")] = _S.terminals,
    skim_days_min: Annotated[float, typer.Option(help="shortest time a skimmer stays, days")] = _S.skim_days_min,
    skim_days_max: Annotated[float, typer.Option(help="longest time a skimmer stays, days")] = _S.skim_days_max,
    victim_share: Annotated[float, typer.Option(help="share of skimmed cards later defrauded")] = _S.victim_share,
    delay_days_min: Annotated[float, typer.Option(help="shortest skim-to-fraud delay, days")] = _S.delay_days_min,
    delay_days_max: Annotated[float, typer.Option(help="longest skim-to-fraud delay, days")] = _S.delay_days_max,
    label_delay_days: Annotated[float, typer.Option(help="fraud-to-label delay, days")] = _S.label_delay_days,
    background_per_day: Annotated[
        float, typer.Option(help="unrelated counterfeit fraud cards per day (noise)")
    ] = _S.background_per_day,
    busiest_share: Annotated[
        float, typer.Option(help="skimmers go on the busiest share of terminals")
    ] = _S.busiest_share,
    seed: Annotated[int, typer.Option(help="random seed of the scenario")] = _S.seed,
    lookback_days: Annotated[float, typer.Option(help="job: days before first fraud searched")] = _C.lookback_days,
    alpha: Annotated[float, typer.Option(help="job: family-wise false-flag level per run")] = _C.alpha,
    specificity: Annotated[float, typer.Option(help="job: margin over rival terminals")] = _C.specificity,
) -> None:
    """Skimmer hunting on realistic traffic (侧录终端排查评估)."""
    scenario = SkimmingScenario(
        terminals=terminals,
        skim_days_min=skim_days_min,
        skim_days_max=skim_days_max,
        victim_share=victim_share,
        delay_days_min=delay_days_min,
        delay_days_max=delay_days_max,
        label_delay_days=label_delay_days,
        background_per_day=background_per_day,
        busiest_share=busiest_share,
        seed=seed,
    )
    config = CompromiseConfig(lookback_days=lookback_days, alpha=alpha, specificity=specificity)
    console = Console(stderr=True)
    result = run_compromise_eval(scenario, config, data_dir, console)
    table = Table(title="point of compromise / 侧录点排查")
    table.add_column("metric / 指标")
    table.add_column("value / 数值", justify="right")
    for key in ("flagged_fraction", "median_days_to_flag", "wrong_flag_fraction", "victims_exposed_before_fraud"):
        value = result[key]
        table.add_row(key, "n/a" if value is None else f"{value:.3f}")
    console.print(table)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
