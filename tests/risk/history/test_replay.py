"""The history replay decides as the API path decides, and only ever sees labels already known."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dunpai.risk.decisions.ladder import RANK
from dunpai.risk.history.store import HistoryStore
from tests.risk.conftest import card_event, make_service
from tests.risk.history import synthetic
from tests.risk.history.conftest import dunpai_json


def test_history_decisions_equal_the_api_paths_on_a_sample(imported: tuple[Path, dict], tmp_path: Path) -> None:
    data, _ = imported
    with sqlite3.connect(data / "dunpai.db") as db:
        bodies = [r[0] for r in db.execute("select body from risk_events where tenant = 'default' order by seq "
                                           "limit 1500")]
    history = HistoryStore(data, "default").scan()
    service = make_service(tmp_path / "api")  # the API's service: validate, de-duplicate, decide, commit
    compared = 0
    for body in bodies:
        decision = service.submit("default", json.loads(body)).decision
        rows = history.filter(pl.col("event_id") == decision.event_id)
        if decision.event_type not in ("card_present", "card_not_present", "mobile_transfer"):
            continue
        row = rows.row(0, named=True)
        assert RANK[decision.action] == row["action"] and decision.score == row["score"], decision.event_id
        assert ",".join(sorted(r.rule_id for r in decision.rule_results if r.outcome == "hit")) == row["rules_hit"]
        for name, value in decision.features.items():
            if name in row:
                assert value == row[name] or (math.isnan(value) and math.isnan(row[name])), name
        compared += 1
    assert compared > 1000


def test_a_label_arriving_after_t_changes_nothing_computed_before_t(tmp_path: Path) -> None:
    """Two imports of one export, the second with more frauds confirmed (labels arriving a week after
    each payment): every feature and decision of a payment made before the first extra label arrived
    is identical; after it, something differs (so the test can fail)."""
    src = tmp_path / "p.csv"
    synthetic.write(src, cards=20, days=30, stolen=3)
    frame = pl.read_csv(src, infer_schema_length=0)
    # Confirm as fraud a few genuine payments of day 12: their labels arrive on day 19.
    day12 = frame["booked_at"].str.starts_with("2026-01-13")
    flipped = frame.with_columns(pl.when(day12 & (pl.int_range(pl.len()) % 7 == 0)).then(pl.lit("1"))
                                 .otherwise(pl.col("chargeback")).alias("chargeback"))
    flipped.write_csv(tmp_path / "q.csv")
    (tmp_path / "m.yaml").write_text(synthetic.MAPPING)
    runs = {}
    for name in ("p.csv", "q.csv"):
        data = tmp_path / name.replace(".", "-")
        dunpai_json("import", str(tmp_path / name), "--mapping", str(tmp_path / "m.yaml"), "--data-dir", str(data))
        runs[name] = HistoryStore(data, "default").scan().sort("event_id").drop("seq")
    a, b = runs["p.csv"], runs["q.csv"]
    cut = a.filter(pl.col("event_id").is_in([f"t-{r}" for r in frame.filter(day12)["txn_ref"]]))
    first_label = float(cut["t"].min()) + 7 * 86400
    # Each data directory tokenises card numbers under its own key: compare everything else.
    columns = sorted((set(a.columns) & set(b.columns)) - {"subject", "customer"})
    before_a = a.filter(pl.col("t") < first_label).select(columns)
    before_b = b.filter(pl.col("t") < first_label).select(columns)
    assert len(before_a) > 500 and before_a.equals(before_b)
    assert not a.filter(pl.col("t") >= first_label).select(columns).equals(
        b.filter(pl.col("t") >= first_label).select(columns))


def test_history_rows_of_different_shapes_keep_their_order_and_leave_absent_features_empty() -> None:
    from dunpai.risk.features.layout import Features
    from dunpai.risk.history.build import META_COLUMNS, _Rows

    rows = _Rows()
    shapes = [("card_present", "card"), ("card_not_present", "card")]
    for i in range(2500):  # more rows than one chunk of the column-major copy
        f = Features({"amount": float(i), "hour": float(i % 24)} if i % 3 else {"amount": float(i), "ip_n": 1.0})
        f.shape = shapes[i % 3 == 0]
        rows.add((i, f"e{i}", f.shape[0], float(i), 0, "c", "c", 0, 0, ""), f, dynamic=i % 5 == 0)
    frame = rows.frame()
    assert frame.columns[:len(META_COLUMNS)] == list(META_COLUMNS)
    assert frame["seq"].to_list() == list(range(2500)) and frame["amount"].to_list() == [float(i) for i in range(2500)]
    hour, ip = frame["hour"].to_list(), frame["ip_n"].to_list()
    for i in range(2500):
        assert (math.isnan(hour[i]), ip[i] == 1.0) == ((True, True) if i % 3 == 0 else (False, False)), i
        assert i % 3 == 0 or hour[i] == i % 24


def _logged(data: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(data / "dunpai.db") as db:
        return list(db.execute("select seq, body from risk_events where tenant = 'default' order by seq"))


def _replay_engine() -> Any:
    from dunpai.risk.features.pipeline import FeaturePipeline
    from dunpai.risk.history.build import history_engine
    from dunpai.risk.service import DEFAULT_RULESET

    return history_engine(FeaturePipeline(), DEFAULT_RULESET.read_text(encoding="utf-8"))


@pytest.mark.parametrize("interval", [0.0, 1e9])
def test_replay_snapshots_its_state_at_most_once_an_interval_and_resumes_after_a_crash_from_the_last(
        imported: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interval: float) -> None:
    """The replay's state (every entity's) is written with the history's meta at most once per
    ``SNAPSHOT_EVERY_S`` and at the end, not once per part; a replay that dies between two saves
    leaves the history as of the last save, and the next one ends exactly where an uninterrupted
    replay ends."""
    from dunpai.risk.features.store import MemoryStore
    from dunpai.risk.history import build

    log = _logged(imported[0])
    monkeypatch.setattr(build, "PART_ROWS", 300)
    monkeypatch.setattr(build, "SNAPSHOT_EVERY_S", interval)
    snapshots = []
    real_snapshot = MemoryStore.snapshot
    monkeypatch.setattr(MemoryStore, "snapshot", lambda self: (snapshots.append(1), real_snapshot(self))[1])
    clean = HistoryStore(tmp_path / "clean", "default")
    meta = build.extend(clean, [log[i:i + 500] for i in range(0, len(log), 500)], _replay_engine())
    assert len(meta.parts) > 4 and len(snapshots) == (len(meta.parts) if interval == 0 else 1)

    def dies_halfway() -> Iterator[list[tuple[int, str]]]:
        yield from [log[i:i + 500] for i in range(0, len(log) // 2, 500)]
        raise RuntimeError("killed")

    crashed = HistoryStore(tmp_path / "crashed", "default")
    with pytest.raises(RuntimeError):
        build.extend(crashed, dies_halfway(), _replay_engine())
    saved = crashed.meta()
    assert saved is not None and (saved.last_seq > 0 if interval == 0 else saved.last_seq == 0)
    build.extend(crashed, [[r for r in log if r[0] > saved.last_seq]], _replay_engine())
    assert crashed.scan().equals(clean.scan())
    assert crashed.snapshot_path.read_bytes() == clean.snapshot_path.read_bytes()


def test_a_second_replay_of_a_tenant_waits_for_the_first_then_extends_what_it_left(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two commands replaying one tenant's history (a ``train`` beside an ``import``) take turns:
    the second waits, says so, and replays only what the first left; both never write at once."""
    import logging
    import threading

    from dunpai.risk.history import build

    service = make_service(tmp_path)
    service.data_dir = tmp_path
    for i in range(40):
        service.submit("default", card_event(i))
    order: list[str] = []
    real_extend = build.extend

    def extend(history: HistoryStore, batches: Any, *args: Any, **kwargs: Any) -> Any:
        events = [e for batch in batches for e in batch]
        order.append(f"replay of {len(events)} events")
        return real_extend(history, [events], *args, **kwargs)

    monkeypatch.setattr(build, "extend", extend)
    waiting = threading.Event()

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "waiting for another process" in record.getMessage():
                waiting.set()

    logging.getLogger("dunpai.risk.history.store").addHandler(handler := Seen())
    try:
        with HistoryStore(tmp_path, "default").updating():
            second = threading.Thread(target=build.update_history, args=(service, "default"))
            second.start()
            assert waiting.wait(60)  # the second replay found the history being updated
            order.append("first done")
        second.join(60)
    finally:
        logging.getLogger("dunpai.risk.history.store").removeHandler(handler)
        service.db.dispose()
    assert order == ["first done", "replay of 40 events"]
    assert HistoryStore(tmp_path, "default").scan().height == 40
