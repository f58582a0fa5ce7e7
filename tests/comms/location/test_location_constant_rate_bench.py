"""The constant-rate benchmark runs end to end (short) and reports one packet size for talk and silence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_constant_rate_bench_quick(tmp_path: Path) -> None:
    from bench.constant_rate_bench import main

    out = tmp_path / "constant_rate.json"
    main(["--seconds", "3", "--out", str(out)])
    result = json.loads(out.read_text())
    cbr = result["constant_rate"]
    assert cbr["distinct_sizes"] == [result["wire_bytes"]] and cbr["ks_size_p"] == 1.0
    assert cbr["packets_talking"] > 0 and cbr["packets_silent"] > 0
    assert isinstance(cbr["ks_interarrival_p"], float)
    assert result["without_constant_rate"]["packets_silent"] == 0  # without it, silence is visible
    assert result["bandwidth_cost"]["constant_bytes_per_s"] > 0
