"""Ids in list tables are printed whole, however narrow the output (issue 15, item 7: a piped
``cases list`` once cut ``cas_fc053fc…``): ``id_column`` keeps every id's full width."""

from __future__ import annotations

from io import StringIO

from rich.console import Console
from rich.table import Table

from dunpai.cli.common import id_column

IDS = ["cas_fc053fc9d1e24b7a8c0e55aa", "cas_0b1c2d3e4f5a6b7c8d9e0f1a"]


def _render(with_id_column: bool) -> str:
    table = Table()
    if with_id_column:
        id_column(table, "case", IDS)
    else:
        table.add_column("case")
    for header in ("status", "type", "customer", "amount", "opened"):
        table.add_column(header)
    for case_id in IDS:
        table.add_row(case_id, "open", "card_fraud", "customer-000123", "12,345.67 CNY", "2026-12-03 09:15")
    out = StringIO()
    Console(file=out, width=80, color_system=None).print(table)
    return out.getvalue()


def test_ids_are_printed_whole_in_a_narrow_table() -> None:
    text = _render(with_id_column=True)
    assert all(case_id in text for case_id in IDS), text


def test_a_plain_column_would_cut_them() -> None:  # what the test above guards against
    text = _render(with_id_column=False)
    assert not any(case_id in text for case_id in IDS), text
