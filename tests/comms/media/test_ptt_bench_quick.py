"""The push-to-talk benchmark runs end to end (small sizes) and writes every promised key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_ptt_bench_quick(tmp_path: Path) -> None:
    from bench.ptt_bench import main

    out = tmp_path / "ptt.json"
    main(["--quick", "--out", str(out), "--deadline-s", "60"])
    result = json.loads(out.read_text())
    for key in ("access_time_p95_ms", "mouth_to_ear_p95_ms"):
        assert isinstance(result[key], int | float) and result[key] > 0, key
    assert result["mouth_to_ear_samples"] > 0 and result["frames_lost"] == 0 and result["frames_rejected"] == 0
    assert result["mouth_to_ear_p95_ms"] >= 20  # includes the 20 ms framing
