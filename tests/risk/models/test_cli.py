"""`models list` and `models promote` through the Typer app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dunpai.cli.history import models_app
from dunpai.risk.models.registry import Registry
from dunpai.risk.models.train import Fitted

WINDOW = {"train_from": "2018-08-01", "train_to": "2018-08-05", "valid_from": "2018-08-06", "valid_to": "2018-08-07"}


def test_list_and_promote(tmp_path: Path, fitted: Fitted, fitted_other: Fitted) -> None:
    reg = Registry(tmp_path)
    champion = reg.register(fitted, WINDOW)
    challenger = reg.register(fitted_other, WINDOW)
    runner = CliRunner()
    env = {"DUNPAI_MODEL_REGISTRY": str(tmp_path.parent)}
    listed = runner.invoke(models_app, ["list", "--tenant", tmp_path.name, "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    roles = {m["version"]: m["role"] for m in json.loads(listed.stdout)}
    assert roles == {champion: "champion", challenger: "challenger"}
    promoted = runner.invoke(models_app, ["promote", "--tenant", tmp_path.name], env=env)
    assert promoted.exit_code == 0, promoted.output
    assert reg.role("champion") == challenger
    missing = runner.invoke(models_app, ["promote", "lgbm_nope", "--tenant", tmp_path.name], env=env)
    assert missing.exit_code == 2
