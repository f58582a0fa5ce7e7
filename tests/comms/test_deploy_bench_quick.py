"""The deployment benchmark runs end to end (cheap key derivation) and stays under its target."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_deploy_bench_quick(tmp_path: Path) -> None:
    from bench.deploy_bench import main

    out = tmp_path / "deploy.json"
    main(["--quick", "--out", str(out)])
    result = json.loads(out.read_text())
    assert 0 < result["nothing_to_enrolled_user_with_message_s"] < result["target_s"]
    assert result["met"] is True
