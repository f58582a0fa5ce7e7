"""The fast path accepts only what the schemas accept, and builds the same event and stored JSON."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from dunpai.core.errors import DunpaiError
from dunpai.keys import PanTokenizer
from dunpai.risk.events.ingest import event_to_json, pan_in_clear, parse_event
from dunpai.risk.history.convert import convert, event_dict, read_source
from dunpai.risk.history.fastpath import FastPath
from dunpai.risk.history.mapping import load_mapping
from tests.risk.conftest import shared_keys
from tests.risk.history import synthetic

MAPPING = synthetic.MAPPING.replace('  pan: {column: card_number}\n  account_id: {column: card_number, '
                                    'prefix: "acct-", token: true}\n  customer_id: {column: card_number, '
                                    'prefix: "cust-", '
                                    'token: true}',
                                    '  pan: {column: card_number}\n  account_id: {column: merchant_kind}\n'
                                    '  customer_id: {column: txn_ref}')
CELL = st.one_of(
    st.sampled_from(["", "0", "1", "-1", "12.5", "1e20", "nan", "inf", "90.1", "-180.5", "pos", "online", "x y",
                     "2026-01-05 10:00:00", "2026-13-05 10:00:00", "4" + "1" * 15, "41" * 11, "a" * 130]),
    st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


VALID = {
    "txn_ref": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,20}", fullmatch=True),
    "booked_at": st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)).map(
        lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
    "card_number": st.from_regex(r"[0-9]{12,19}", fullmatch=True),
    "merchant_name": st.text(min_size=1, max_size=100),
    "merchant_kind": st.text(min_size=1, max_size=64),
    "channel": st.sampled_from(["pos", "online"]),
    "amount_usd": st.decimals(min_value=0, max_value=10**12, places=3, allow_nan=False).map(str),
    "shop_lat": st.floats(-90, 90).map(repr), "shop_lon": st.floats(-180, 180).map(repr),
    "home_lat": st.one_of(st.floats(-90, 90).map(repr), st.just("")),
    "home_lon": st.floats(-180, 180).map(repr),
    "chargeback": st.sampled_from(["0", "1", "yes", "no"]),
}
ROW = st.fixed_dictionaries(VALID)
BROKEN = st.tuples(ROW, st.dictionaries(st.sampled_from(synthetic.COLUMNS), CELL, max_size=2)).map(
    lambda pair: {**pair[0], **pair[1]})


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(ROW, BROKEN), min_size=1, max_size=25))
def test_every_fast_row_is_what_the_schemas_accept(tmp_path_factory: object, rows: list[dict[str, str]]) -> None:
    folder = Path(tmp_path_factory.mktemp("fast"))  # type: ignore[attr-defined]
    src = folder / "p.csv"
    with src.open("w", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=synthetic.COLUMNS)
        out.writeheader()
        out.writerows(rows)
    check_file(src)


def test_the_test_banks_rows_all_go_the_fast_way(tmp_path: Path) -> None:
    src = tmp_path / "p.csv"
    synthetic.write(src, cards=6, days=10, stolen=2)
    assert check_file(src) == len(pl.read_csv(src, infer_schema=False))


def check_file(src: Path) -> int:
    mapping = load_mapping(MAPPING)
    frame, plan = convert(mapping, read_source([src], mapping, src.parent))
    protector = PanTokenizer(shared_keys())
    fast = FastPath(plan, dict(frame.schema), protector)
    accepted = fast.accepted(frame)
    n = 0
    for row, ok in zip(frame.iter_rows(named=True), accepted, strict=True):
        raw, problems = event_dict(row, plan)
        if not ok:
            continue
        assert not problems
        if pan_in_clear(raw["pan"], {k: v for k, v in raw.items() if k != "pan"}) is not None:
            continue  # the importer rejects it before either way (test_import)
        try:
            slow, masked = parse_event(dict(raw), protector)
        except DunpaiError as exc:
            raise AssertionError(f"the fast path accepted a row the schemas refuse: {raw} {exc.problems}") from None
        built, built_masked = fast.build(dict(raw))
        assert built == slow and built_masked == masked
        assert event_to_json(built) == event_to_json(slow)
        n += 1
    return n
