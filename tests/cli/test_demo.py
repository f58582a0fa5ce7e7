"""`dunpai demo` end to end: the cases are stopped, no card number is left in clear anywhere, and
the audit chain verifies — and stops verifying once a row is edited."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from dunpai.cli import app
from dunpai.risk.scenarios.source_cases import demo_events

CUSTOMERS, SEED = 20, 7  # a small world: the source's cases, a little normal traffic (the demo itself runs 300)


def test_demo_stops_fraud_hides_card_numbers_and_audits(tmp_path: Path) -> None:
    data, out = tmp_path / "demo", tmp_path / "demo.json"
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--data-dir", str(data), "--out", str(out),
                                 "--customers", str(CUSTOMERS), "--seed", str(SEED)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert {"event_id", "scenario", "fraud", "action", "score", "reasons", "customer_message"} <= set(rows[0])
    assert all(r["action"] != "allow" for r in rows if r["fraud"])
    assert {r["scenario"] for r in rows} >= {"S1", "S2", "S3", "S4", "normal"}
    assert sum(r["action"] == "allow" for r in rows if r["scenario"] == "normal") >= 0.97 * sum(
        r["scenario"] == "normal" for r in rows)

    pans = {body["pan"] for body, _, _ in demo_events(SEED, CUSTOMERS) if "pan" in body}
    assert len(pans) >= CUSTOMERS // 2
    haystacks = [result.output.encode(), out.read_bytes()]
    haystacks += [p.read_bytes() for p in data.rglob("*") if p.is_file()]
    for blob in haystacks:
        found = set(re.findall(rb"\d{16}", blob))
        assert not {p.encode() for p in pans} & found

    bundles = [d for d in (data / "evidence").iterdir() if d.is_dir()]
    assert len(bundles) >= 4  # one per case: S1, S2, the S3 employee, the S4 terminal
    assert list((data / "evidence").rglob("police-report.zh.pdf"))
    published = runner.invoke(app, ["keys", "public", "evidence-signing", "--data-dir", str(data)])
    assert published.exit_code == 0, published.output
    for bundle in bundles:
        checked = runner.invoke(app, ["evidence", "verify", str(bundle), "--trusted-key", published.output.strip()])
        assert checked.exit_code == 0, checked.output

    ok = runner.invoke(app, ["audit", "verify", "--data-dir", str(data)])
    assert ok.exit_code == 0, ok.output
    with sqlite3.connect(data / "dunpai.db") as conn:
        conn.execute("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 1")
    broken = runner.invoke(app, ["audit", "verify", "--data-dir", str(data)])
    assert broken.exit_code == 1
    assert "entry 1" in broken.output

    # a second run starts clean (even over the edited chain) and shows exactly what the first did
    again = runner.invoke(app, ["demo", "--data-dir", str(data), "--out", str(out), "--customers", str(CUSTOMERS),
                                "--seed", str(SEED)])
    assert again.exit_code == 0, again.output
    assert json.loads(out.read_text(encoding="utf-8")) == rows
    assert runner.invoke(app, ["audit", "verify", "--data-dir", str(data)]).exit_code == 0


def test_demo_refuses_a_directory_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    result = CliRunner().invoke(app, ["demo", "--data-dir", str(tmp_path), "--customers", "5"])
    assert result.exit_code == 2
    assert "not a demo directory" in result.output and (tmp_path / "mine.txt").read_text() == "keep me"
