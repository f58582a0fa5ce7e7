from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from dunpai.cli import app
from dunpai.risk.scenarios.source_cases import demo_events


def test_replay_jsonl_and_parquet_then_explain(tmp_path: Path) -> None:
    events = [body for body, _, _ in demo_events(seed=4, customers=12, history_days=1)]
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in events[:40]) + "\n", encoding="utf-8")
    bad = dict(events[40], amount="1.5", event_id="bad-1")
    with jsonl.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(bad) + "\n")
    runner = CliRunner()
    data = tmp_path / "data"
    out = tmp_path / "decisions.jsonl"
    r = runner.invoke(app, ["replay", str(jsonl), "--data-dir", str(data), "--out", str(out)])
    assert r.exit_code == 1, r.output  # a rejected event fails the run ...
    summary = json.loads(r.stdout)  # ... whose summary is JSON on stdout (progress goes to stderr)
    assert (summary["decided"], summary["rejected"]) == (40, 1)
    assert summary["first_rejections"][0]["problems"][0]["field"] == "amount"
    decisions = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(decisions) == 40

    parquet = tmp_path / "more.parquet"
    rows = [{k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in e.items()} for e in events[41:60]
            if e["type"] == "login"]
    rows = [{k: v for k, v in e.items() if k != "location"} for e in rows]
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    r = runner.invoke(app, ["replay", str(parquet), "--data-dir", str(data)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["decided"] == len(rows)
    again = runner.invoke(app, ["replay", str(jsonl), "--data-dir", str(data), "--allow-rejects"])
    assert again.exit_code == 0, again.output  # accepted on purpose
    assert json.loads(again.stdout)["duplicates"] == 40

    r = runner.invoke(app, ["explain", decisions[0]["decision_id"], "--data-dir", str(data), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["decision_id"] == decisions[0]["decision_id"]
    r = runner.invoke(app, ["explain", "dec_nope", "--data-dir", str(data)])
    assert r.exit_code != 0
