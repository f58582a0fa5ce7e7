"""``dunpai import``: events and labels stored by the mapping, bad rows in the reject file,
duplicates reported, re-runs idempotent, an interrupted import resumed."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from tests.kdf import CHEAP_KDF_ENV
from tests.risk.history import synthetic
from tests.risk.history.conftest import Export, dunpai, dunpai_json


def count(data: Path, where: str = "1=1") -> int:
    with sqlite3.connect(data / "dunpai.db") as db:
        return int(db.execute(f"select count(*) from risk_events where {where}").fetchone()[0])


def test_every_row_becomes_an_event_and_every_fraud_a_label(imported: tuple[Path, dict], export: Export) -> None:
    data, summary = imported
    assert summary["status"] == "imported"
    assert (summary["rows"], summary["events"], summary["labels"], summary["rejected"]) == (
        export.rows, export.rows, export.frauds, 0)
    assert count(data, "event_type = 'label'") == export.frauds
    assert count(data, "event_type in ('card_present', 'card_not_present')") == export.rows
    # A blocked card is reissued 14 days after its fraud label (the mapping's default).
    assert count(data, "event_type = 'card'") == summary["reissues"] == export.frauds
    assert summary["history"]["last_seq"] == count(data)
    assert sum(summary["actions"].values()) == export.rows
    assert summary["cold_start"].startswith("hab_")


def test_labels_arrive_after_the_mapped_delay_and_name_what_they_label(imported: tuple[Path, dict]) -> None:
    data, _ = imported
    with sqlite3.connect(data / "dunpai.db") as db:
        label = json.loads(db.execute("select body from risk_events where event_type = 'label' limit 1").fetchone()[0])
        target = json.loads(db.execute("select body from risk_events where event_id = ?",
                                       (label["target_event_id"],)).fetchone()[0])
    delay = datetime.fromisoformat(label["event_time"]) - datetime.fromisoformat(target["event_time"])
    assert delay == timedelta(days=7)
    assert label["card_id"] == target["card_id"] and label["merchant_id"] == target["merchant_id"]
    assert label["category"] == target["category"]


def test_card_numbers_never_reach_the_database(imported: tuple[Path, dict], export: Export) -> None:
    data, _ = imported
    numbers = {row["card_number"] for row in csv.DictReader(export.csv.open())}
    raw = (data / "dunpai.db").read_bytes()
    assert not any(n.encode() in raw for n in numbers)
    with sqlite3.connect(data / "dunpai.db") as db:
        masked = db.execute("select card_masked from risk_events where card_masked is not null limit 1").fetchone()[0]
    assert masked.startswith("4") and "*" in masked


def test_a_second_run_of_the_same_file_changes_nothing(imported: tuple[Path, dict], export: Export) -> None:
    data, first = imported
    before = count(data)
    again = dunpai_json("import", str(export.csv), "--mapping", str(export.mapping), "--data-dir", str(data))
    assert again["status"] == "already_imported" and again["events"] == first["events"]
    assert count(data) == before


def test_bad_rows_go_to_the_reject_file_and_the_rest_is_stored(tmp_path: Path) -> None:
    src = tmp_path / "bad.csv"
    synthetic.write(src, cards=4, days=3, stolen=0)
    rows = list(csv.reader(src.open()))
    header, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    body[0][col["booked_at"]] = "yesterday"  # not in the format
    body[1][col["amount_usd"]] = "twelve"  # not a number
    body[2][col["channel"]] = "carrier-pigeon"  # no entry in the value table
    body[3][col["card_number"]] = "12"  # not a card number
    body[4][col["shop_lat"]] = "123.0"  # latitude out of range
    skipped = body[5][col["txn_ref"]]
    body[5][col["booked_at"]] = "2026-03-08 02:30:00"  # New York's clocks skip from 2:00 to 3:00 that night
    body.append(body[10])  # the same row twice: a duplicate, not an error
    with src.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *body])
    (tmp_path / "m.yaml").write_text(synthetic.MAPPING)
    rejects = tmp_path / "rejects.jsonl"
    args = ("import", str(src), "--mapping", str(tmp_path / "m.yaml"), "--data-dir", str(tmp_path / "d"),
            "--rejects", str(rejects), "--json")
    result = dunpai(*args)
    assert result.exit_code == 1, result.output  # rows were rejected
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["rejected"] == 5 and summary["duplicates_in_source"] == 1
    assert summary["events"] == len(body) - 6
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    got = {(r["row"], r["field"]) for r in lines}
    assert {(1, "event_time"), (2, "amount"), (3, "type"), (4, "account_id"), (5, "terminal_location.lat")} <= got
    # the skipped hour is read as a clock not yet put forward meant it: 02:30 EST, 07:30 UTC
    with sqlite3.connect(tmp_path / "d" / "dunpai.db") as db:
        body_json = db.execute("select body from risk_events where event_id = ?", (f"t-{skipped}",)).fetchone()[0]
    assert json.loads(body_json)["event_time"] == "2026-03-08T03:30:00-04:00"
    assert all(r["file"] == "bad.csv" and r["problem"] for r in lines)
    assert not any("twelve" in json.dumps(r) or "yesterday" in json.dumps(r) for r in lines)  # never the values
    assert count(tmp_path / "d", "event_type != 'label' and event_type != 'card'") == summary["events"]


def test_parquet_and_json_lines_give_the_same_events_as_csv(tmp_path: Path) -> None:
    src = tmp_path / "p.csv"
    synthetic.write(src, cards=5, days=8, stolen=1)
    frame = pl.read_csv(src, infer_schema_length=0)  # every column as the text the CSV holds
    frame.write_parquet(tmp_path / "p.parquet")
    frame.write_ndjson(tmp_path / "p.jsonl")
    (tmp_path / "m.yaml").write_text(synthetic.MAPPING)
    bodies = {}
    for name in ("p.csv", "p.parquet", "p.jsonl"):
        data = tmp_path / name.replace(".", "-")
        dunpai_json("import", str(tmp_path / name), "--mapping", str(tmp_path / "m.yaml"), "--data-dir", str(data))
        with sqlite3.connect(data / "dunpai.db") as db:
            # Each data directory has its own token key: compare the events with the tokens set aside.
            bodies[name] = [re.sub(r"pan1\.\d+\.[0-9a-f]+", "TOKEN", r[0])
                            for r in db.execute("select body from risk_events order by seq")]
    assert len(bodies["p.csv"]) > 100
    assert bodies["p.csv"] == bodies["p.parquet"] == bodies["p.jsonl"]


def test_an_import_killed_midway_resumes_where_it_stopped(tmp_path: Path) -> None:
    src = tmp_path / "big.csv"
    counts = synthetic.write(src, cards=160, days=30, stolen=12)
    (tmp_path / "m.yaml").write_text(synthetic.MAPPING)
    data = tmp_path / "d"
    args = [sys.executable, "-m", "dunpai.cli", "import", str(src), "--mapping", str(tmp_path / "m.yaml"),
            "--data-dir", str(data), "--batch-size", "500", "--json"]
    env = {**os.environ, **CHEAP_KDF_ENV}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until some batches are committed, then kill
            if (data / "dunpai.db").exists():
                with sqlite3.connect(data / "dunpai.db") as db:
                    try:
                        position = db.execute("select position from risk_imports").fetchone()
                    except sqlite3.OperationalError:
                        position = None
                if position and 1500 <= position[0] < counts["rows"]:
                    break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    stored = count(data)
    assert 0 < stored < counts["rows"]
    resumed = dunpai_json("import", str(src), "--mapping", str(tmp_path / "m.yaml"), "--data-dir", str(data))
    assert resumed["status"] == "resumed" and 0 < resumed["resumed_at"] < counts["rows"]
    assert (resumed["events"], resumed["labels"]) == (counts["rows"], counts["frauds"])
    assert count(data) == counts["rows"] + 2 * counts["frauds"]  # payments, labels, reissues; none twice
    with sqlite3.connect(data / "dunpai.db") as db:
        assert db.execute("select count(distinct event_id) from risk_events").fetchone()[0] == count(data)


def test_a_row_that_would_store_its_card_number_in_clear_is_rejected(tmp_path: Path) -> None:
    """A second column with the same numbers escapes the mapping's check; the row does not."""
    src = tmp_path / "copy.csv"
    synthetic.write(src, cards=3, days=2, stolen=0)
    rows = list(csv.reader(src.open()))
    header, body = rows[0], rows[1:]
    card = header.index("card_number")
    body = [[*r, r[card] if i % 2 else "000"] for i, r in enumerate(body)]  # every other row leaks
    with src.open("w", newline="") as fh:
        csv.writer(fh).writerows([[*header, "card_ref"], *body])
    (tmp_path / "m.yaml").write_text(synthetic.MAPPING.replace("{column: merchant_name}\n  terminal_id",
                                                               "{column: card_ref}\n  terminal_id", 1))
    rejects = tmp_path / "rejects.jsonl"
    result = dunpai("import", str(src), "--mapping", str(tmp_path / "m.yaml"), "--data-dir", str(tmp_path / "d"),
                    "--rejects", str(rejects), "--json")
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert len(lines) == len(body) // 2
    found = {(r["field"], r["problem"].split(" (")[0]) for r in lines}
    assert found == {("merchant_id", "holds the card number in clear")}
    raw = (tmp_path / "d" / "dunpai.db").read_bytes()
    assert not any(r[card].encode() in raw for r in body)
