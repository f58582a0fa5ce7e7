"""``dunpai eval compromise``: skimmer hunting measured on the Handbook's history with an injected,
documented skimming scenario (every scenario parameter is an option)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dunpai.cli.common import ConfigOpt, OutOpt, new_app, settings
from dunpai.risk.compromise.evaluate import evaluate
from dunpai.risk.compromise.model import CompromiseConfig
from dunpai.risk.compromise.scenario import SkimmingScenario, inject, load_handbook_background
from dunpai.risk.compromise.traffic import at_traffic
from dunpai.risk.compromise.traffic import cards_per_terminal_day as cards_per_terminal_day_of

_S = SkimmingScenario()
_C = CompromiseConfig()

app = new_app("评估 / measurements.")


def run_compromise_eval(
    scenario: SkimmingScenario,
    config: CompromiseConfig,
    data_dir: Path,
    console: Console | None = None,
    cards_per_terminal_day: float | None = None,
) -> dict[str, Any]:
    """Load the background (its terminals merged to ``cards_per_terminal_day`` when given, see
    :mod:`dunpai.risk.compromise.traffic`), inject the scenario, replay labels through the job; the
    metrics dict."""
    console = console or Console(stderr=True)
    with console.status("loading the Handbook history / 加载手册数据"):
        background = load_handbook_background(data_dir)
        if cards_per_terminal_day is not None:
            background = at_traffic(background, cards_per_terminal_day)
        truth = inject(background, scenario)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("replaying labels / 回放标签", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = evaluate(truth, config, progress=tick)
    result["detail"]["summary"] = truth.summary()
    result["detail"]["traffic"] = {
        "requested_cards_per_terminal_day": cards_per_terminal_day,
        "cards_per_terminal_day": cards_per_terminal_day_of(background.card, background.terminal, background.t),
        "physical_terminals": len(np.unique(background.terminal)),
    }
    return result


@app.command("compromise")
def compromise(
    out: OutOpt = None,
    handbook_dir: Annotated[Path | None, typer.Option(
        "--handbook-dir", help="手册数据目录 / Handbook parquet folder (datasets.handbook_dir, DUNPAI_HANDBOOK_DIR)",
        show_default=False)] = None,
    config: ConfigOpt = None,
    terminals: Annotated[int, typer.Option(help="被装侧录器的终端数 / skimmed terminals")] = _S.terminals,
    skim_days_min: Annotated[float, typer.Option(
        help="侧录器最短停留天数 / shortest time a skimmer stays, days")] = _S.skim_days_min,
    skim_days_max: Annotated[float, typer.Option(
        help="侧录器最长停留天数 / longest time a skimmer stays, days")] = _S.skim_days_max,
    victim_share: Annotated[float, typer.Option(
        help="后来被盗刷的卡占比 / share of skimmed cards later defrauded")] = _S.victim_share,
    delay_days_min: Annotated[float, typer.Option(
        help="侧录到盗刷最短天数 / shortest skim-to-fraud delay, days")] = _S.delay_days_min,
    delay_days_max: Annotated[float, typer.Option(
        help="侧录到盗刷最长天数 / longest skim-to-fraud delay, days")] = _S.delay_days_max,
    label_delay_days: Annotated[float, typer.Option(
        help="盗刷到标注的天数 / fraud-to-label delay, days")] = _S.label_delay_days,
    background_per_day: Annotated[
        float, typer.Option(help="每天无关的伪卡欺诈卡数（噪声） / unrelated counterfeit fraud cards per day (noise)")
    ] = _S.background_per_day,
    busiest_share: Annotated[
        float, typer.Option(help="侧录器装在最繁忙的终端占比 / skimmers go on the busiest share of terminals")
    ] = _S.busiest_share,
    seed: Annotated[int, typer.Option(help="场景随机种子 / random seed of the scenario")] = _S.seed,
    cards_per_terminal_day: Annotated[float | None, typer.Option(
        help="终端流量：合并相邻终端，使每台每天约见这么多张卡（默认保持数据原样） / terminal traffic: merge "
             "neighbouring terminals so each sees about this many cards a day (default: the data as it is)",
        show_default=False)] = None,
    lookback_days: Annotated[float, typer.Option(
        help="排查：首次盗刷前回溯天数 / job: days before first fraud searched")] = _C.lookback_days,
    alpha: Annotated[float, typer.Option(
        help="排查：每次运行的总误报水平 / job: family-wise false-flag level per run")] = _C.alpha,
    specificity: Annotated[float, typer.Option(
        help="排查：相对其他终端的优势 / job: margin over rival terminals")] = _C.specificity,
) -> None:
    """侧录终端排查评估 / skimmer hunting on realistic traffic; the metrics go to --out as JSON.

    早期预警：首批受害卡确认后，与其共用候选终端的卡获得分级暴露度（贝叶斯因子），报告提前预警的后续受害卡占比与
    每张受害卡对应的误警卡数 / early warning: after the first confirmed victims, cards that shared their candidate
    terminals get a graded exposure (a Bayes factor); reported: later victims warned before their fraud and
    innocent cards warned per victim."""
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
    job = CompromiseConfig(lookback_days=lookback_days, alpha=alpha, specificity=specificity)
    console = Console(stderr=True)
    data_dir = settings(config, datasets__handbook_dir=handbook_dir).datasets.handbook_dir
    result = run_compromise_eval(scenario, job, data_dir, console, cards_per_terminal_day)
    table = Table(title="point of compromise / 侧录点排查")
    table.add_column("metric / 指标")
    table.add_column("value / 数值", justify="right")
    for key in ("flagged_fraction", "median_days_to_flag", "wrong_flag_fraction", "victims_exposed_before_fraud"):
        value = result[key]
        table.add_row(key, "n/a" if value is None else f"{value:.3f}")
    warning = result["early_warning"]
    for key in ("later_victims_warned_before_fraud", "innocent_warned_per_victim"):
        value = warning[key]
        table.add_row(f"early_warning.{key} (≥ {warning['warn_at']:g})", "n/a" if value is None else f"{value:.3f}")
    console.print(table)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
