"""The deployment benchmark runs end to end (cheap key derivation): the administrator enrols from
their own device and the user receives their message. How long it takes is the benchmark's
figure (``bench/results/deploy.json``), never a test's assertion: this machine may be busy."""

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
    assert {"deploy_s", "enrol_admin_s", "enrol_user_s", "first_message_s", "redeploy_s"} <= set(result)
    assert result["nothing_to_enrolled_user_with_message_s"] > 0
