"""`models list` and `models promote` through the Typer app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dunpai.risk.backtest.cli import app
from dunpai.risk.models.registry import Registry
from dunpai.risk.models.train import Fitted

WINDOW = {"train_from": "2018-08-01", "train_to": "2018-08-05", "valid_from": "2018-08-06", "valid_to": "2018-08-07"}


def test_list_and_promote(tmp_path: Path, fitted: Fitted, fitted_other: Fitted) -> None:
    reg = Registry(tmp_path)
    champion = reg.register(fitted, WINDOW)
    challenger = reg.register(fitted_other, WINDOW)
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list", "--registry", str(tmp_path), "--json"])
    assert listed.exit_code == 0, listed.output
    roles = {m["version"]: m["role"] for m in json.loads(listed.stdout)}
    assert roles == {champion: "champion", challenger: "challenger"}
    promoted = runner.invoke(app, ["models", "promote", "--registry", str(tmp_path)])
    assert promoted.exit_code == 0, promoted.output
    assert reg.role("champion") == challenger
    missing = runner.invoke(app, ["models", "promote", "lgbm_nope", "--registry", str(tmp_path)])
    assert missing.exit_code == 1
