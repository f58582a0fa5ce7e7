"""Orchestration behind the commands: evaluate, backtest, write JSON and charts.

The CLI and ``bench/handbook_bench.py`` call these; they hold no figures of their own.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dunpai.risk.backtest import metrics, plots, rule_backtest, ulb
from dunpai.risk.backtest.evaluate import (
    CP_CURVE_K,
    SCENARIOS,
    SELECTION_METRIC,
    book_baseline,
    daily_alerts,
    engine_fold,
    model_features,
    select_candidate,
    summarise,
)
from dunpai.risk.backtest.handbook import HandbookData
from dunpai.risk.backtest.protocol import folds
from dunpai.risk.backtest.replay import (
    Replayed,
    cache_dir,
    cached_replay,
    default_ruleset_text,
    engine_pipeline,
    replay_meta,
)
from dunpai.risk.decisions.engine import known_variables
from dunpai.risk.detectors import DEFAULT_DETECTORS
from dunpai.risk.models.train import DEFAULT_PARAMS, Fitted, fit, refit
from dunpai.risk.rules.compiler import CompiledRuleset

DATA_ENV = "DUNPAI_HANDBOOK_DIR"
DEFAULT_DATA = Path("../shared/data/handbook")

PUBLISHED: dict[str, dict[str, Any]] = {
    "logistic_regression (ch. 3, baseline split)": {"auc_roc": 0.871, "average_precision": 0.606,
                                                    "card_precision_at_100": 0.291},
    "random_forest (ch. 3, baseline split)": {"auc_roc": 0.867, "average_precision": 0.658,
                                              "card_precision_at_100": 0.287},
    "xgboost (ch. 3, baseline split)": {"auc_roc": 0.862, "average_precision": 0.639,
                                        "card_precision_at_100": 0.273},
    "xgboost (ch. 5, prequential)": {"auc_roc": 0.869, "average_precision": 0.687, "card_precision_at_100": 0.303},
    "random_forest (ch. 5, prequential)": {"auc_roc": 0.870, "average_precision": 0.678,
                                           "card_precision_at_100": 0.299},
    "balanced_bagging (ch. 6, prequential)": {"auc_roc": 0.879, "average_precision": 0.680,
                                              "card_precision_at_100": 0.305},
    "feed_forward_network (ch. 7, prequential)": {"auc_roc": 0.876, "average_precision": 0.675,
                                                  "card_precision_at_100": 0.303},
    "lstm (ch. 7, prequential)": {"auc_roc": 0.876, "average_precision": 0.665, "card_precision_at_100": 0.297},
}
"""The book's published test figures (docs/data.md), quoted for comparison — not measurements."""

Say = Callable[[str], None]


def data_dir() -> Path:
    return Path(os.environ.get(DATA_ENV, str(DEFAULT_DATA)))


def _environment() -> dict[str, Any]:
    import lightgbm
    import sklearn

    return {"python": platform.python_version(), "lightgbm": lightgbm.__version__,
            "scikit_learn": sklearn.__version__, "cpus": os.cpu_count(), "machine": platform.machine()}


def load_replay(directory: Path, say: Say, progress: Callable[[int], None] | None = None,
                start: datetime | None = None, end: datetime | None = None) -> tuple[HandbookData, Replayed, str]:
    data = HandbookData.load(directory, start=start, end=end)
    t0 = time.perf_counter()
    replayed, key = cached_replay(data, directory, progress=progress)
    say(f"replay {key}: {len(data.transactions):,} transactions ready in {time.perf_counter() - t0:.1f} s")
    return data, replayed, key


def handbook_eval(protocol: str, directory: Path, out_json: Path | None, say: Say,
                  progress: Callable[[int], None] | None = None, charts: bool = True) -> dict[str, Any]:
    data, replayed, key = load_replay(directory, say, progress)
    tx, feats = data.transactions, replayed.features
    names = model_features(feats)
    fold_results: list[dict[str, Any]] = []
    baselines: dict[str, list[dict[str, Any]]] = {"logistic_regression": [], "random_forest": []}
    scenario: dict[str, dict[str, list[float]]] = {}
    last_scores: dict[str, np.ndarray] = {}
    last_y: np.ndarray | None = None
    cp_curves: dict[str, dict[int, list[float]]] = {}
    daily: dict[str, dict[str, list[Any]]] = {}
    book_names = ("logistic_regression", "random_forest") if protocol == "baseline" else ("logistic_regression",)
    say("choosing LightGBM settings on the validation folds (test folds shifted back 14 days)")
    chosen, tried = select_candidate(tx, feats, folds(protocol), names, say)
    for fold in folds(protocol):
        say(f"fold {fold.describe()}")
        result, fitted = engine_fold(tx, feats, fold, names, chosen)
        figures = {**fold.describe(), **result.figures, **label_reach(tx, feats, result.test_rows),
                   "label_ceiling": label_ceiling(tx, feats, result.test_rows)}
        fold_results.append(figures)
        for sname, vals in figures["per_scenario_recall"].items():
            for k, v in vals.items():
                scenario.setdefault(sname, {}).setdefault(k, []).append(float(v))
        book = book_baseline(tx, feats, fold, book_names)
        for bname, bres in book.items():
            baselines[bname].append({**fold.describe(), **bres.figures})
        rows = result.test_rows
        y = tx.TX_FRAUD.to_numpy()[rows]
        days = tx.TX_TIME_DAYS.to_numpy()[rows]
        cards = tx.CUSTOMER_ID.to_numpy()[rows]
        all_scores = {"dunpai engine": result.scores, **{f"book {b}": r.scores for b, r in book.items()}}
        for sname, s in all_scores.items():
            curve = metrics.card_precision_curve(days, cards, y, s, CP_CURVE_K)
            for k, v in curve.items():
                cp_curves.setdefault(sname, {}).setdefault(k, []).append(v)
        for sname, s in all_scores.items():
            for k, v in daily_alerts(tx, rows, s).items():
                daily.setdefault(sname, {}).setdefault(k, []).extend(v)
        last_scores, last_y = all_scores, y
        say(f"  engine AUC {figures['auc_roc']:.3f} AP {figures['average_precision']:.3f} "
            f"CP@100 {figures['card_precision_at_100']:.3f} (trees {fitted.best_iteration})")
    summary = summarise(fold_results)
    out: dict[str, Any] = {
        "protocol": protocol,
        "model": ("dunpai engine: replayed feature steps + detectors + rules, LightGBM (number of trees by early "
                  "stopping on the last 2 days of the training week, then re-trained on the whole week; "
                  "Platt-calibrated on the held-out days)"),
        "params": {**DEFAULT_PARAMS, **chosen["params"]},
        "model_selection": {"criterion": f"mean validation {SELECTION_METRIC}", "chosen": chosen,
                            "candidates": tried},
        "features": names,
        "folds": fold_results,
        "mean": summary["mean"],
        "std": summary["std"],
        "per_scenario_recall": {s: {k: float(np.mean(v)) for k, v in d.items()} for s, d in scenario.items()},
        "label_ceiling": summarise([f["label_ceiling"] for f in fold_results]),
        "baselines": {b: {"folds": r, **summarise(r)} for b, r in baselines.items() if r},
        "card_precision_at_k": {s: {str(k): float(np.mean(v)) for k, v in d.items()} for s, d in cp_curves.items()},
        "alerts_per_test_day": {sname: _by_day(d) for sname, d in daily.items()},
        "published": PUBLISHED,
        "replay": {"cache_key": key, "transactions": len(tx), "frauds": int(tx.TX_FRAUD.sum()),
                   **{k: v for k, v in replay_meta(key).items() if k in ("events", "replay_seconds",
                                                                        "events_per_second")}},
        "environment": _environment(),
        "scenario_names": {str(k): v for k, v in SCENARIOS.items()},
    }
    if out_json is not None:
        write_json(out_json, out)
        if charts and last_y is not None:
            folder, stem = out_json.parent, out_json.stem
            plots.pr_roc(last_y, last_scores, folder, f"{stem}-pr-roc",
                         f"Handbook {protocol} (last fold)")
            plots.card_precision_at_k({s: {int(k): v for k, v in d.items()}
                                       for s, d in out["card_precision_at_k"].items()},
                                      folder, f"{stem}-card-precision-at-k",
                                      f"Handbook {protocol}: card precision at k")
            groups = list(out["per_scenario_recall"])
            plots.bars(groups, {
                "card in day's top 100": [out["per_scenario_recall"][g]["recall_top100_cards"] for g in groups],
                "transaction above 1 % FPR threshold": [out["per_scenario_recall"][g]["recall_at_1pct_fpr"]
                                                        for g in groups],
            }, folder, f"{stem}-scenario-recall", f"Handbook {protocol}: recall per fraud scenario", "recall")
            alerts_chart(out, folder, f"{stem}-alerts-per-day")
    return out


def _by_day(series: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Per-test-day series of all folds, in day order (the prequential test weeks do not overlap)."""
    order = np.argsort(np.asarray(series["day"]), kind="stable")
    return {k: [v[i] for i in order] for k, v in series.items()}


def alerts_chart(result: dict[str, Any], folder: Path, stem: str) -> list[Path]:
    """Alerts per test day from a results file: each model's compromised cards among the day's 100
    alerted cards beside the compromised cards there were to find, and the engine's transaction
    alerts at the 1 % FPR threshold with the frauds among them."""
    per_model = result["alerts_per_test_day"]
    engine = per_model["dunpai engine"]
    series: dict[str, list[float]] = {"compromised cards to find": engine["compromised_cards"]}
    for name, d in per_model.items():
        series[f"{name}: compromised cards in the day's 100 card alerts"] = d["cards_detected_top100"]
    series["dunpai engine: transaction alerts at 1 % FPR"] = engine["transactions_alerted_1pct_fpr"]
    series["dunpai engine: frauds among those alerts"] = engine["frauds_alerted_1pct_fpr"]
    series["frauds (after the book's removals)"] = engine["frauds"]
    return plots.daily(engine["day"], series, folder, stem,
                       f"Handbook {result['protocol']}: alerts per test day", "count")


CEILING_SEEDS = 5


def label_ceiling(tx: pd.DataFrame, feats: pd.DataFrame, rows: np.ndarray) -> dict[str, float]:
    """What a perfect model could reach on these rows with the labels that had arrived: every fraud
    ranked above every genuine transaction, except the skimmed-terminal frauds whose terminal had no
    known fraud run yet (no arrived label could reveal them: they rank at random among the genuine
    ones). Mean of a few random orders. Reporting only — the scenario column is read here."""
    y = tx.TX_FRAUD.to_numpy()[rows]
    hidden = (tx.TX_FRAUD_SCENARIO.to_numpy()[rows] == 2) & (feats.tl_run_len.to_numpy()[rows] == 0)
    days = tx.TX_TIME_DAYS.to_numpy()[rows]
    cards = tx.CUSTOMER_ID.to_numpy()[rows]
    shown = (y == 1) & ~hidden
    out: dict[str, list[float]] = {"auc_roc": [], "average_precision": [], "card_precision_at_100": []}
    for seed in range(CEILING_SEEDS):
        s = np.random.default_rng(seed).random(len(y)) + shown
        out["auc_roc"].append(metrics.auc_roc(y, s))
        out["average_precision"].append(metrics.average_precision(y, s))
        out["card_precision_at_100"].append(metrics.card_precision_top_k(days, cards, y, s, 100).mean)
    return {k: float(np.mean(v)) for k, v in out.items()}


def label_reach(tx: pd.DataFrame, feats: pd.DataFrame, rows: np.ndarray) -> dict[str, float]:
    """How much of a skimmed terminal's fraud any label could reveal when it was scored: the share of
    compromised-terminal frauds in the test rows whose terminal had no known fraud run yet (its
    first frauds' labels had not arrived). Reporting only — the scenario column is read here."""
    scen = tx.TX_FRAUD_SCENARIO.to_numpy()[rows]
    no_run = feats.tl_run_len.to_numpy()[rows] == 0
    skimmed = scen == 2
    share = float(no_run[skimmed].mean()) if skimmed.any() else 0.0
    return {"compromised_terminal_frauds_without_known_run": share}


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=False, ensure_ascii=False, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def ulb_eval(out_json: Path | None, say: Say, progress: Callable[[int], None] | None = None,
             charts: bool = True) -> dict[str, Any] | None:
    """FDB protocol on the ULB data; ``None`` (with a message) when the data cannot be had."""
    try:
        path = ulb.fetch(cache_dir())
    except ulb.Unavailable as exc:
        say(f"ULB data unavailable, skipped: {exc}")
        return None
    df = ulb.load(path)
    t0 = time.perf_counter()
    feats = ulb.replay(df, default_ruleset_text(), progress=progress)
    say(f"ULB replay: {len(df):,} transactions in {time.perf_counter() - t0:.1f} s")
    train, test = ulb.split(df)
    names = ulb.model_columns(feats.iloc[train])
    x = feats[names].to_numpy()
    y = df.Class.to_numpy().astype(np.float64)
    cut = int(len(train) * 0.8)
    tried = []
    best: Fitted | None = None
    for params in ulb.CANDIDATE_PARAMS:
        candidate = fit(x[train[:cut]], y[train[:cut]], x[train[cut:]], y[train[cut:]], names, params,
                        max_rounds=3000, early_stopping=200)
        tried.append({"params": params, "best_iteration": candidate.best_iteration,
                      "valid_auc_roc": candidate.metrics["valid_auc_roc"]})
        say(f"  candidate {params}: validation AUC {candidate.metrics['valid_auc_roc']:.4f}")
        if best is None or candidate.metrics["valid_auc_roc"] > best.metrics["valid_auc_roc"]:
            best = candidate
    assert best is not None
    fitted = refit(best, x[train], y[train])
    scores = fitted.scorer.predict_batch(x[test])
    yt = y[test]
    out: dict[str, Any] = {
        "protocol": "FDB (Grover et al., 2022): time-ordered 80/20 split",
        "data": {"rows": len(df), "frauds": int(y.sum()), "test_rows": len(test), "test_frauds": int(yt.sum()),
                 "sha256": ulb.SHA256},
        "model": "dunpai engine replay (card-not-present events + issuer PCA features via an enricher), LightGBM",
        "training": {"fit_rows": cut, "early_stopping_rows": len(train) - cut, "best_iteration": fitted.best_iteration,
                     "candidates": tried, "chosen_params": {k: fitted.params[k] for k in sorted(fitted.params)},
                     "refit_rows": len(train), "selection": "best validation AUC, then refit on the training 80 %"},
        "features": names,
        "auc_roc": metrics.auc_roc(yt, scores),
        "recall_at_1pct_fpr": metrics.recall_at_fpr(yt, scores, 0.01),
        "average_precision": metrics.average_precision(yt, scores),
        "published": {"auc_roc": "0.985-0.992", "recall_at_1pct_fpr": "0.853-0.88", "source": "FDB AutoML systems"},
        "environment": _environment(),
    }
    say(f"ULB AUC {out['auc_roc']:.4f} recall@1%FPR {out['recall_at_1pct_fpr']:.3f}")
    if out_json is not None:
        write_json(out_json, out)
        if charts:
            plots.pr_roc(yt, {"dunpai engine": scores}, out_json.parent, f"{out_json.stem}-pr-roc",
                         "ULB test (last 20 %)")
    return out


def backtest(ruleset_path: Path, start: date, end: date, directory: Path, out_json: Path | None, say: Say,
             published_path: Path | None = None, progress: Callable[[int], None] | None = None,
             charts: bool = True) -> dict[str, Any]:
    """Replay ``[start, end]`` (whole days) and report the draft ruleset against the published one."""
    t0 = time.perf_counter()
    data, replayed, key = load_replay(directory, say)
    tx = data.transactions
    t = tx.TX_DATETIME.to_numpy()
    rows = np.flatnonzero((t >= np.datetime64(pd.Timestamp(start))) &
                          (t < np.datetime64(pd.Timestamp(end + timedelta(days=1)))))
    known = known_variables(engine_pipeline(), DEFAULT_DETECTORS)
    draft = CompiledRuleset.from_yaml(ruleset_path.read_text(encoding="utf-8"), known)
    published_text = published_path.read_text(encoding="utf-8") if published_path else default_ruleset_text()
    published = CompiledRuleset.from_yaml(published_text, known)
    feats = replayed.features.iloc[rows]
    t1 = time.perf_counter()
    draft_hits = rule_backtest.evaluate_rules(draft, feats, progress=progress)
    published_hits = rule_backtest.evaluate_rules(published, feats, progress=progress)
    y = tx.TX_FRAUD.to_numpy()[rows]
    days = tx.TX_DATETIME.dt.strftime("%Y-%m-%d").to_numpy()[rows]
    out = rule_backtest.report(draft_hits, published_hits, y, days)
    elapsed = time.perf_counter() - t0
    out = {"from": start.isoformat(), "to": end.isoformat(), "ruleset": ruleset_path.name, **out,
           "timing": {"seconds_total": elapsed, "seconds_rules": time.perf_counter() - t1,
                      "replay_cache_key": key, "events": len(rows) + int(y.sum())},
           "environment": _environment()}
    say(f"backtest of {len(rows):,} transactions in {elapsed:.1f} s")
    if out_json is not None:
        write_json(out_json, out)
        if charts:
            order = np.argsort(days, kind="stable")
            uniq, first = np.unique(days[order], return_index=True)
            series = {}
            for name, h in (("draft", draft_hits.alert), ("published", published_hits.alert)):
                series[f"{name} alerts"] = np.add.reduceat(h[order].astype(np.int64), first).tolist()
            series["frauds"] = np.add.reduceat(y[order].astype(np.int64), first).tolist()
            plots.daily(list(uniq), series, out_json.parent, f"{out_json.stem}-alerts-per-day",
                        "Alerts per day: draft vs published ruleset", "count")
    return out

