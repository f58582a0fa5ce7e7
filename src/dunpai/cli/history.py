"""Learning from the bank's own history: ``import``, ``train``, ``eval``, ``backtest``, ``models``.

Every command works on one tenant's stored events (``--tenant``), whatever data they came from:
a data set's name appears only in its mapping file, never here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from dunpai.cli.common import (
    CONTEXT,
    Commands,
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    TenantOpt,
    console,
    errors,
    new_app,
    print_json,
    settings,
)

models_app = new_app("模型注册表：列出、晋升 / the model registry of a tenant: list, promote.")
eval_app = typer.Typer(cls=Commands, context_settings=CONTEXT, invoke_without_command=True, no_args_is_help=False,
                       help="评估检测质量 / evaluate detection quality on a tenant's history (and `eval compromise`).")

JsonFileOpt = Annotated[Path | None, typer.Option(
    "--out", help="把结果写入此 JSON 文件（图表写在旁边） / write the results to this JSON file "
    "(charts beside it)",
    show_default=False)]


@contextmanager
def _bars() -> Iterator[Callable[[str, int, int], None]]:
    """One Rich progress bar per stage (``import``, ``replay``, ...)."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=errors, transient=False) as progress:
        tasks: dict[str, Any] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total or None)
            progress.update(tasks[stage], completed=done, total=total or None)

        yield advance


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


def _open(config: Path | None, data_dir: Path | None) -> Any:
    from dunpai.risk.runtime import open_service

    return open_service(settings(config, data_dir))


def import_(
    sources: Annotated[list[Path], typer.Argument(help="CSV、Parquet 或 JSON lines 文件（同一格式） / CSV, "
                                                       "Parquet or JSON lines files of one layout",
                                                  exists=True, dir_okay=False)],
    mapping: Annotated[Path, typer.Option(help="映射文件（见 docs/import.md） / the mapping YAML (docs/import.md)",
                                          exists=True, dir_okay=False)],
    tenant: TenantOpt = "default",
    rejects: Annotated[Path | None, typer.Option(
        help="拒收行文件 / reject file (default: DATA_DIR/imports/<tenant>-<first source>.rejects.jsonl)",
        show_default=False)] = None,
    allow_rejects: Annotated[bool, typer.Option(
        "--allow-rejects", help="有拒收行时仍以 0 退出 / exit 0 even when rows were rejected")] = False,
    batch_size: Annotated[int, typer.Option(
        min=100, help="每次提交的行数（中断后从下一批继续） / rows per committed batch (a resume starts after the last "
        "one)")] = 20_000,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """导入历史数据 / import a file of the bank's own history into a tenant: events and labels by a mapping,
    then replayed through the engine (the tenant's history for train, eval and backtest)."""
    from dunpai.risk.history.pilot import run_import

    cfg = settings(config, data_dir)
    from dunpai.risk.runtime import open_service

    service = open_service(cfg)
    out = rejects or cfg.data_dir / "imports" / f"{tenant}-{sources[0].stem}.rejects.jsonl"
    try:
        with _bars() as advance:
            summary = run_import(service, cfg, sources, mapping, tenant, out, advance,
                                 budget=cfg.policy.max_interrupt_rate, registry=cfg.model_registry / tenant,
                                 batch=batch_size)
    finally:
        service.close()
    if as_json:
        print_json(summary)
    else:
        _print_import(summary)
    if summary["rejected"] and not allow_rejects:
        raise typer.Exit(1)


def _print_import(s: dict[str, Any]) -> None:
    table = Table(title=f"导入 / import {s['source']} → 租户 / tenant {s['tenant']} ({s['status']})")
    table.add_column("")
    table.add_column("", justify="right")
    for label, key in (("源数据行 / source rows", "rows"), ("已存事件 / events stored", "events"),
                       ("已存标签 / labels stored", "labels"),
                       ("源中重复编号 / duplicate ids in the source", "duplicates_in_source"),
                       ("日志中已有 / already in the log", "already_in_log"), ("拒收行 / rows rejected", "rejected"),
                       ("秒 / seconds", "seconds")):
        value = s.get(key)
        table.add_row(label, f"{value:,.1f}" if isinstance(value, float) else f"{value:,}" if value else "0")
    console.print(table)
    if s.get("rejects_file"):
        console.print("拒收行（文件、行、字段、问题） / rejected rows (file, row, field, problem): "
                      f"{s['rejects_file']}")
    if s.get("actions"):
        console.print("导入交易的影子决定 / shadow decisions of the imported payments: " +
                      ", ".join(f"{k} {v:,}" for k, v in s["actions"].items()))
    if s.get("cold_start"):
        console.print(f"冷启动评分 {s['cold_start']} 已为租户 {s['tenant']} 生效（无需标签） / cold-start score "
                      f"{s['cold_start']} is now live for tenant {s['tenant']} (no labels needed)")
    if s.get("cold_start_idle"):
        _print_idle(s["cold_start_idle"])


def _print_idle(idle: dict[str, float]) -> None:
    """The cold-start score has no room in the alert budget: say so, and what to do."""
    rules, budget = f"{idle['rules_interrupt']:.2%}", f"{idle['budget']:.2%}"
    console.print(f"[yellow]注意：打断预算 {budget} 没有给冷启动评分留下余地（规则本身已打断近 30 天 {rules} 的交易），"
                  "它不会打断任何交易。请用 dunpai backtest 找出嘈杂的规则，或提高 policy.max_interrupt_rate。\n"
                  f"Note: the alert budget {budget} leaves the cold-start score no room (the rules alone interrupted "
                  f"{rules} of the last 30 days' payments), so it will interrupt no payment. Find the noisy rules "
                  "with dunpai backtest, or raise policy.max_interrupt_rate.[/yellow]")


def train(
    tenant: TenantOpt = "default",
    train_from: Annotated[str | None, typer.Option("--from", help="训练首日 / first training day (YYYY-MM-DD)",
                                                   show_default=False)] = None,
    train_to: Annotated[str | None, typer.Option("--to", help="训练末日 / last training day",
                                                 show_default=False)] = None,
    valid_from: Annotated[str | None, typer.Option(help="验证首日 / first validation day (after training)",
                                                   show_default=False)] = None,
    valid_to: Annotated[str | None, typer.Option(help="验证末日 / last validation day", show_default=False)] = None,
    role: Annotated[str, typer.Option(help="模型角色：challenger（影子评分）或 champion（决定实时交易） / the "
                                           "model's role: challenger (scored in the shadow) or champion "
                                           "(decides live payments)")] = "challenger",
    unsupervised: Annotated[bool, typer.Option(
        "--unsupervised", help="不用标签：习惯偏离冷启动评分 / no labels: the cold-start habit-deviation "
        "score")] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """训练模型 / train on the tenant's history (labels as known now), choose thresholds for the alert
    budget and register the model. Without dates: all history but the labels' usual delay."""
    from dunpai.risk.history.training import train_tenant

    if role not in ("challenger", "champion"):
        raise typer.BadParameter("must be challenger or champion", param_hint="--role")
    cfg = settings(config, data_dir)
    from dunpai.risk.runtime import open_service

    service = open_service(cfg)
    try:
        with _bars() as advance:
            out = train_tenant(service, tenant, cfg.model_registry / tenant, cfg.policy.max_interrupt_rate, role,
                               unsupervised, [_day(train_from, "--from"), _day(train_to, "--to"),
                                              _day(valid_from, "--valid-from"), _day(valid_to, "--valid-to")],
                               lambda done: advance("replay", done, 0), errors.print)
    finally:
        service.close()
    if as_json:
        print_json(out)
    else:
        console.print(f"已登记 {out['version']}（{out['kind']}），角色 {out['role']}，租户 {tenant} / registered "
                      f"{out['version']} ({out['kind']}) as {out['role']} for tenant {tenant}")
        if out.get("idle"):
            _print_idle(out["idle"])


@eval_app.callback()
def evaluate(
    ctx: typer.Context,
    tenant: TenantOpt = "default",
    protocol: Annotated[str, typer.Option(help="split（按时间 80/20） | prequential（Handbook 的滚动折） / "
                                            "split (by time, 80/20) | prequential (the Handbook's rolling "
                                            "folds)")] = "split",
    test_fraction: Annotated[float, typer.Option(help="split: 测试占比 / share of payments tested, the latest")] = 0.2,
    train_from: Annotated[str | None, typer.Option(help="按日期：训练首日 / by dates: first training day "
                                                   "(YYYY-MM-DD; give all four)", show_default=False)] = None,
    train_to: Annotated[str | None, typer.Option(help="按日期：训练末日 / by dates: last training day",
                                                 show_default=False)] = None,
    test_from: Annotated[str | None, typer.Option(help="按日期：测试首日 / by dates: first test day",
                                                  show_default=False)] = None,
    test_to: Annotated[str | None, typer.Option(help="按日期：测试末日 / by dates: last test day",
                                                show_default=False)] = None,
    first_train_day: Annotated[str | None, typer.Option(
        help="prequential: 第一折训练首日 / first fold's first training day (default: the latest folds)",
        show_default=False)] = None,
    folds: Annotated[int, typer.Option(help="prequential: 折数 / folds")] = 4,
    train_days: Annotated[int, typer.Option(help="prequential: 每折训练天数 / training days per fold")] = 7,
    delay_days: Annotated[int, typer.Option(help="prequential: 标签延迟 / label delay, unused days")] = 7,
    test_days: Annotated[int, typer.Option(help="prequential: 每折测试天数 / test days per fold")] = 7,
    labels: Annotated[str, typer.Option(help="split: all（回溯，已发表协议） | known（测试开始时已知） / "
                                          "all (retrospective, as published protocols) | known (as known when "
                                          "the test starts)")] = "all",
    json_out: JsonFileOpt = None,
    charts: Annotated[bool, typer.Option(help="在 JSON 旁写图表 / write PNG and HTML charts beside the JSON")] = True,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """评估检测质量 / evaluate on the tenant's history: train as `dunpai train` does, test on later payments;
    AUC, average precision, recall at 1 % FPR, card precision top-100, the alert budget's effect."""
    if ctx.invoked_subcommand is not None:
        return
    from dunpai.risk.evaluation import protocol as protocols
    from dunpai.risk.history.training import evaluate_tenant

    if protocol not in ("split", "prequential"):
        raise typer.BadParameter("must be split or prequential", param_hint="--protocol")
    if labels not in ("all", "known"):
        raise typer.BadParameter("must be all or known", param_hint="--labels")
    dates = [_day(v, n) for v, n in ((train_from, "--train-from"), (train_to, "--train-to"),
                                     (test_from, "--test-from"), (test_to, "--test-to"))]
    cfg = settings(config, data_dir)
    from dunpai.risk.runtime import open_service

    def folds_for(t: Any) -> list[protocols.Fold]:
        if protocol == "prequential":
            first = _day(first_train_day, "--first-train-day") or protocols.latest_prequential(
                t, folds, train_days, delay_days, test_days)
            return protocols.prequential(first, folds, train_days, delay_days, test_days)
        if any(d is not None for d in dates):
            a, b, c, d = dates
            if a is None or b is None or c is None or d is None:
                raise typer.BadParameter("give all four of --train-from, --train-to, --test-from, --test-to")
            return [protocols.dated(a, b, c, d, retrospective=labels == "all")]
        return [protocols.split(t, test_fraction, retrospective=labels == "all")]

    service = open_service(cfg)
    try:
        with _bars() as advance:
            out = evaluate_tenant(service, tenant, folds_for, cfg.policy.max_interrupt_rate, json_out, charts,
                                  lambda done: advance("replay", done, 0), errors.print)
    finally:
        service.close()
    out["protocol"] = protocol
    if as_json:
        print_json(out)
        return
    table = Table(title=f"租户 / tenant {tenant}, {protocol} ({len(out['folds'])} 折 / fold(s), 均值 / mean)")
    for col in ("评分 / scorer", "AUC ROC", "AP", "recall@1%FPR", "CP@100", "正常被打断 / legit interrupted",
                "欺诈被拦截 / frauds stopped"):
        table.add_column(col)
    m, p = out["mean"], out["policy"]
    c = out["cold_start"]
    table.add_row("模型 / dunpai model", *(f"{m[k]:.3f}" for k in ("auc_roc", "average_precision", "recall_at_1pct_fpr",
                                                          "card_precision_at_100")),
                  f"{p['legit_interrupted']:.4f}", f"{p['fraud_stopped']:.3f}")
    table.add_row("冷启动（无标签） / cold start (no labels)", *(f"{c[k]:.3f}" for k in ("auc_roc", "average_precision",
                                                                    "recall_at_1pct_fpr", "card_precision_at_100")),
                  f"{c['legit_interrupted']:.4f}", f"{c['fraud_stopped']:.3f}")
    console.print(table)
    if c.get("no_room"):
        console.print(f"[yellow]冷启动：{c['no_room']:.0%} 的折中打断预算没有给评分留下余地（规则的打断先计入），"
                      "评分没有打断任何交易。\n"
                      f"Cold start: in {c['no_room']:.0%} of the folds the alert budget left the score no room (the "
                      "rules' own interruptions come first), so it interrupted nothing there.[/yellow]")


def backtest(
    tenant: TenantOpt = "default",
    ruleset: Annotated[Path | None, typer.Option(
        help="草案规则集 YAML / draft ruleset (default: the published one)", exists=True, dir_okay=False,
        show_default=False)] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="首日 / first day", show_default=False)] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="末日 / last day", show_default=False)] = None,
    json_out: JsonFileOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """规则回测 / backtest rules on the tenant's history: each rule's hits, precision, recall, alerts per
    day, the noisy ones; the draft against the published ruleset; thresholds that meet the alert budget."""
    from dunpai.risk.history.training import backtest_tenant

    cfg = settings(config, data_dir)
    from dunpai.risk.runtime import open_service

    service = open_service(cfg)
    try:
        with _bars() as advance:
            out = backtest_tenant(service, tenant, ruleset.read_text(encoding="utf-8") if ruleset else None,
                                  _day(date_from, "--from"), _day(date_to, "--to"), cfg.model_registry / tenant,
                                  cfg.policy.max_interrupt_rate, json_out,
                                  lambda done: advance("replay", done, 0), errors.print)
    finally:
        service.close()
    if as_json:
        print_json(out)
        return
    rules = out["rules"]
    table = Table(title=f"规则回测 / rule backtest, tenant {tenant}: {rules['payments']:,} payments, "
                  f"{rules['frauds']:,} frauds ({out['blocked_card_payments_left_out']:,} payments of blocked cards "
                  "left out)")
    for col in ("规则 / rule", "命中 / hits", "占比 / share", "精确率 / precision", "召回率 / recall",
                "每日告警 / alerts/day", ""):
        table.add_column(col)
    for r in rules["rules"]:
        table.add_row(r["rule_id"], f"{r['hits']:,}", f"{r['share_of_payments']:.4f}",
                      "-" if r["precision"] is None else f"{r['precision']:.3f}",
                      "-" if r["recall"] is None else f"{r['recall']:.3f}", f"{r['alerts_per_day']:.1f}",
                      "[red]嘈杂 / noisy[/red]" if r["noisy"] else "")
    console.print(table)
    d = rules["difference"]
    console.print(f"草稿对比已发布 / draft vs published: +{d['extra_frauds_caught']} frauds caught, "
                  f"-{d['frauds_no_longer_caught']} lost, +{d['extra_alerts']} alerts, -{d['alerts_removed']} alerts")
    rec = out.get("recommended")
    if rec:
        steps = ", ".join(f"{step} ≥ {level:.3g}" if level is not None else f"{step} never (no room in the budget)"
                          for step, level in rec["thresholds"].items() if step != "budget")
        console.print(f"推荐阈值 / thresholds for a budget of {rec['budget']:.2%} of legitimate payments "
                      f"(model {rec['model']}): {steps}; "
                      f"on the held-back days: {rec['held_back']['legit_interrupted']:.4%} interrupted, "
                      f"{rec['held_back']['fraud_stopped']:.1%} of frauds stopped")


@models_app.command("list")
def models_list(tenant: TenantOpt = "default", as_json: JsonOpt = False, config: ConfigOpt = None,
                data_dir: DataDirOpt = None) -> None:
    """列出模型 / the tenant's registered models with their role, window and validation metrics."""
    from dunpai.risk.models.registry import Registry

    cfg = settings(config, data_dir)
    infos = Registry(cfg.model_registry / tenant).versions()
    if as_json:
        print_json([{"version": i.version, "kind": i.meta.get("kind"), "role": i.role,
                     "data_window": i.meta["data_window"], "metrics": i.meta["metrics"],
                     "thresholds": i.meta.get("thresholds")} for i in infos])
        return
    table = Table(title=f"租户 {tenant} 的模型 / models of tenant {tenant}")
    for col in ("版本 / version", "类型 / kind", "角色 / role", "数据窗口 / window", "验证 AP / valid AP"):
        table.add_column(col)
    for i in infos:
        w = i.meta["data_window"]
        ap = i.meta["metrics"].get("valid_average_precision")
        table.add_row(i.version, str(i.meta.get("kind")), i.role or "", f"{w.get('from')} .. {w.get('to')}",
                      "-" if ap is None or (isinstance(ap, float) and math.isnan(ap)) else f"{ap:.3f}")
    console.print(table)


@models_app.command("promote")
def models_promote(version: Annotated[str | None, typer.Argument(help="版本（默认挑战者） / version (default: the "
                                                                      "challenger)")] = None,
                   tenant: TenantOpt = "default", config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """晋升为冠军 / make the challenger (or VERSION) the champion that decides live traffic."""
    from dunpai.core.errors import NotFound
    from dunpai.risk.models.registry import Registry, UnknownModel

    cfg = settings(config, data_dir)
    try:
        promoted = Registry(cfg.model_registry / tenant).promote(version)
    except UnknownModel as exc:
        raise NotFound("no such model", version=str(exc)) from None
    console.print(f"{promoted} 现为租户 {tenant} 的冠军模型 / {promoted} is now the champion of tenant {tenant}")


__all__ = ["backtest", "eval_app", "import_", "models_app", "train"]
