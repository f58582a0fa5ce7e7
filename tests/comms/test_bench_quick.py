"""The benchmark runs end to end (small sizes) and writes every promised key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_comms_bench_quick(tmp_path: Path) -> None:
    from bench.comms_bench import main

    out = tmp_path / "comms.json"
    main(["--quick", "--out", str(out), "--deadline-s", "120"])
    result = json.loads(out.read_text())
    for key in ("p2p_p50_ms", "p2p_p99_ms", "group200_p50_ms", "group200_p99_ms", "bytes_per_client"):
        assert isinstance(result[key], int | float) and result[key] > 0, key
    assert result["rejected_messages"] == 0
