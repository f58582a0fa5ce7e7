"""The mapping is checked before any row is read, and every problem names its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dunpai.core.errors import InvalidInput
from dunpai.risk.history.convert import read_source, source_columns
from dunpai.risk.history.mapping import load_mapping
from tests.risk.history import synthetic

GOOD = synthetic.MAPPING


def problems(text: str, columns: list[str] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as err:
        mapping = load_mapping(text)
        if columns is not None:
            mapping.check_columns(columns)
    return [(p.field, p.problem) for p in err.value.problems]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_the_test_mapping_is_valid() -> None:
    mapping = load_mapping(GOOD)
    assert set(mapping.types) == {"card_present", "card_not_present"}
    mapping.check_columns(list(synthetic.COLUMNS))


@pytest.mark.parametrize(("edit", "needle", "says"), [
    (("  currency: USD", "  currncy: USD"), "currncy", "did you mean currency"),
    (("values: {pos: card_present, online: card_not_present}", "values: {pos: card_presnt}"), "type:",
     "is not an event type"),
    (('timezone: America/New_York', 'timezone: Mars/Olympus'), "event_time", "unknown time zone"),
    (("delay: 7d", "delay: a week"), "delay", "not a duration"),
    (('pos_entry_mode: "05"', 'pos_entry_mode: "99"'), "pos_entry_mode", "Input should be"),
    (("  txn: pos_purchase", "  txn: shopping"), "txn", "Input should be"),
    (("scale: 100, round: true}", "scale: hundred}"), "amount", "valid number"),
])
def test_each_error_names_its_line(edit: tuple[str, str], needle: str, says: str) -> None:
    text = GOOD.replace(*edit)
    assert text != GOOD
    found = problems(text)
    want = f"line {line_of(text, needle)}:"
    assert any(field.startswith(want) and says in problem for field, problem in found), found


def test_an_unknown_column_names_the_line_and_the_nearest_columns() -> None:
    text = GOOD.replace("{column: merchant_kind}", "{column: merchant_knd}")
    found = problems(text, list(synthetic.COLUMNS))
    assert found == [(f"line {line_of(text, 'merchant_knd')}: event.category.column",
                      "no column 'merchant_knd' in the source (did you mean merchant_kind, merchant_name?)")]


def test_a_field_of_no_mapped_type_is_refused() -> None:
    text = GOOD.replace("  currency: USD", "  currency: USD\n  employee_id: {column: card_number}")
    assert any("not a field of" in problem and field.startswith(f"line {line_of(text, 'employee_id')}:")
               for field, problem in problems(text))


def test_yaml_syntax_errors_name_the_line() -> None:
    text = GOOD.replace("  currency: USD", "  currency: [USD")
    ((field, _),) = problems(text)
    assert field.startswith("line ")


def test_sql_in_derived_columns_is_run_on_the_schema_before_rows(tmp_path: Path) -> None:
    csv = tmp_path / "p.csv"
    synthetic.write(csv, cards=3, days=2, stolen=0)
    text = "columns:\n  doubled: \"CAST(amount_usd AS DOUBLE) * 2\"\n  broken: \"amount_usd +* 2\"\n" + GOOD
    mapping = load_mapping(text)
    lf = read_source([csv], mapping, tmp_path)
    mapping.check_columns(source_columns(lf))
    with pytest.raises(InvalidInput) as err:
        mapping.check_derived(lf)
    assert [p.field for p in err.value.problems] == [f"line {line_of(text, 'broken')}: columns.broken"]


def test_value_tables_and_shell_patterns_turn_a_column_into_event_types(tmp_path: Path) -> None:
    from dunpai.risk.history.convert import convert

    csv = tmp_path / "p.csv"
    synthetic.write(csv, cards=3, days=6, stolen=1)
    text = GOOD.replace("type: {column: channel, values: {pos: card_present, online: card_not_present}}",
                        'type: {column: channel, match: {"p*": card_present, "*": card_not_present}}')
    mapping = load_mapping(text)
    frame, _ = convert(mapping, read_source([csv], mapping, tmp_path))
    import polars as pl

    source = pl.read_csv(csv, infer_schema=False)
    expected = ["card_present" if c == "pos" else "card_not_present" for c in source["channel"]]
    assert frame["type"].to_list() == expected and len(set(expected)) == 2


@pytest.mark.parametrize(("edit", "needle"), [
    (("{column: card_number, prefix: \"acct-\", token: true}", "{column: card_number, prefix: \"acct-\"}"),
     "account_id"),
    (("event_id: {column: txn_ref, prefix: \"t-\"}", "event_id: {columns: [card_number, txn_ref]}"), "event_id"),
    (("category: {column: merchant_kind}", "category: {column: card_number}"), "category"),
    (("  customer_home:", "  attributes: {text: [\"card_*\"]}\n  customer_home:"), "attributes"),
    (("event:\n", "columns:\n  card_copy: \"'x' || card_number\"\nevent:\n"), None),
])
def test_card_numbers_are_never_mapped_anywhere_but_pan_and_tokens(edit: tuple[str, str], needle: str | None) -> None:
    text = GOOD.replace(*edit)
    if needle is None:  # a derived column made from the card numbers carries them too
        text = text.replace("merchant_id: {column: merchant_name}", "merchant_id: {column: card_copy}")
        needle = "merchant_id"
    assert text != GOOD
    found = problems(text)
    want = f"line {line_of(text, f'  {needle}:')}: event.{needle}"
    assert any(field.startswith(want) and "card numbers of" in problem for field, problem in found), found
