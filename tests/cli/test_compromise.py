"""``dunpai eval compromise`` end to end on a tiny Handbook-shaped data folder."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import typer
from typer.testing import CliRunner

from dunpai.cli.compromise import app
from dunpai.risk.compromise.scenario import synthetic_background


def test_eval_compromise_writes_the_four_metrics(tmp_path: Path) -> None:
    bg = synthetic_background(cards=150, terminals=40, days=100, uses_per_day=1.0, seed=2)
    data = tmp_path / "handbook"
    data.mkdir()
    pl.DataFrame({
        "TX_DATETIME": pl.from_epoch(pl.Series(bg.t.astype("int64")), time_unit="s"),
        "CUSTOMER_ID": bg.card, "TERMINAL_ID": bg.terminal, "TX_FRAUD": [0] * len(bg.t),
    }).write_parquet(data / "transactions-2018-04.parquet")
    out = tmp_path / "out" / "compromise.json"
    root = typer.Typer()
    root.add_typer(app, name="eval")
    result = CliRunner().invoke(root, [
        "eval", "compromise", "--out", str(out), "--handbook-dir", str(data), "--terminals", "2",
        "--skim-days-min", "10", "--skim-days-max", "14", "--delay-days-max", "20", "--busiest-share", "0.5",
        "--background-per-day", "0.1", "--seed", "4",
    ])
    assert result.exit_code == 0, result.output
    body = json.loads(out.read_text())
    for key in ("flagged_fraction", "median_days_to_flag", "wrong_flag_fraction", "victims_exposed_before_fraud"):
        assert key in body
    assert 0.0 <= body["flagged_fraction"] <= 1.0
    assert body["detail"]["scenario"]["terminals"] == 2
    assert {"later_victims", "later_victims_warned_before_fraud", "innocent_warned_per_victim", "curve"} <= set(
        body["early_warning"])


def test_eval_compromise_at_a_traffic_level_merges_terminals(tmp_path: Path) -> None:
    bg = synthetic_background(cards=150, terminals=300, days=100, uses_per_day=1.0, seed=2)
    assert bg.terminal_xy is not None
    data = tmp_path / "handbook"
    data.mkdir()
    pl.DataFrame({
        "TX_DATETIME": pl.from_epoch(pl.Series(bg.t.astype("int64")), time_unit="s"),
        "CUSTOMER_ID": bg.card, "TERMINAL_ID": bg.terminal, "TX_FRAUD": [0] * len(bg.t),
    }).write_parquet(data / "transactions-2018-04.parquet")
    pl.DataFrame({"TERMINAL_ID": list(range(300)), "x_terminal_id": bg.terminal_xy[:, 0],
                  "y_terminal_id": bg.terminal_xy[:, 1]}).write_parquet(data / "terminals.parquet")
    out = tmp_path / "compromise.json"
    root = typer.Typer()
    root.add_typer(app, name="eval")
    result = CliRunner().invoke(root, [
        "eval", "compromise", "--out", str(out), "--handbook-dir", str(data), "--terminals", "2",
        "--skim-days-min", "10", "--skim-days-max", "14", "--delay-days-max", "20", "--busiest-share", "0.5",
        "--seed", "4", "--cards-per-terminal-day", "4",
    ])
    assert result.exit_code == 0, result.output
    traffic = json.loads(out.read_text())["detail"]["traffic"]
    assert traffic["requested_cards_per_terminal_day"] == 4.0
    assert abs(traffic["cards_per_terminal_day"] / 4.0 - 1) <= 0.1
    assert traffic["physical_terminals"] < 300
