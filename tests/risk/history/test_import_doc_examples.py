"""The mapping examples of ``docs/import.md`` (a bank's card export with places; mobile-money
transfers) work as written: a new user copies them and changes column names. Each is read from the
document, given a small file with the columns it names, and imported without a rejected row."""

from __future__ import annotations

import csv
import re
import sqlite3
from pathlib import Path

import pytest

from tests.risk.history.conftest import dunpai_json

DOC = Path(__file__).resolve().parents[3] / "docs" / "import.md"


def _example(after: str) -> str:
    """The first YAML block of ``docs/import.md`` after the sentence starting ``after``."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(after)
    found = re.search(r"```yaml\n(.*?)```", text[start:], re.S)
    assert found is not None, f"no YAML example after {after!r} in docs/import.md"
    return found.group(1)


def _card_rows(n: int) -> list[dict[str, object]]:
    rows = []
    for i in range(n):
        rows.append({
            "transaction_id": f"t{i}", "transaction_time": f"2025-03-{1 + i % 28:02d} {8 + i % 12:02d}:15:00",
            "amount": f"{12.5 + i % 40:.2f}", "card_number": f"4000{1234567890 + i % 9:012d}",
            "merchant": f"shop-{i % 7}", "category": ("grocery_pos", "shopping_net", "gas_transport")[i % 3],
            "merchant_lat": 41.0 + i % 5 * 0.01, "merchant_lon": -87.6, "home_lat": 41.02, "home_lon": -87.61,
            "city_population": 2_700_000, "is_fraud": int(i % 25 == 24),
        })
    return rows


def _mobile_rows(n: int) -> list[dict[str, object]]:
    return [{"step": 1 + i // 10, "type": ("TRANSFER", "CASH_OUT", "PAYMENT")[i % 3], "amount": f"{100 + i:.2f}",
             "origin_account": f"C{i % 9}", "destination_account": f"M{i % 4}",
             "origin_balance_before": f"{5000 + i:.2f}", "is_fraud": int(i % 30 == 29)} for i in range(n)]


@pytest.mark.parametrize(("intro", "rows", "types"), [
    ("Card payments in a bank's own export", _card_rows(120), ("card_present", "card_not_present")),
    ("Mobile-money transfers and cash-outs", _mobile_rows(120), ("mobile_transfer",)),
], ids=["card-export", "mobile-money"])
def test_the_documented_mapping_imports_a_file_with_its_columns(
        tmp_path: Path, intro: str, rows: list[dict[str, object]], types: tuple[str, ...]) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(_example(intro), encoding="utf-8")
    source = tmp_path / "export.csv"
    with source.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = dunpai_json("import", str(source), "--mapping", str(mapping), "--data-dir", str(tmp_path / "data"))
    kept = [r for r in rows if r.get("type", "TRANSFER") != "PAYMENT"]  # the mobile example keeps two types
    assert (summary["status"], summary["rejected"]) == ("imported", 0)
    assert summary["events"] == len(kept)
    assert summary["labels"] == sum(int(r["is_fraud"]) for r in kept)  # type: ignore[call-overload]
    assert set(summary["actions"]) and sum(summary["actions"].values()) == len(kept)
    assert set(_event_types(tmp_path / "data")) == set(types)


def _event_types(data: Path) -> list[str]:
    with sqlite3.connect(data / "dunpai.db") as db:
        return [r[0] for r in db.execute("select distinct event_type from risk_events "
                                         "where event_type not in ('label', 'card')")]
