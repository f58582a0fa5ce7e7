"""Turn a source file into Dunpai event dicts by its mapping, column by column (polars), then row
by row into the events the schemas accept.

Every column transformation runs vectorised; a value that cannot be converted (no entry in a value
table, a time that does not match its format) becomes a per-row problem naming the field, and the
row goes to the reject file. Events are sorted by event time, each fraud label merged in at the
time it became known (labels first at equal instants).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from dunpai.risk.history.mapping import (
    ID_FIELDS,
    IMPORTABLE,
    LOCATION_FIELDS,
    AttributesValue,
    ColumnValue,
    ComposedValue,
    LocationValue,
    Mapping,
    Value,
    duration_secs,
    event_fields,
    zone_of,
)

ROW = "__row"
FILE = "__file"
TIME = "__t"
KIND = "__kind"  # 0 label, 1 event, 2 card reissue: labels sort first at equal instants
TRUE_WORDS = ("1", "1.0", "true", "t", "yes", "y")
FALSE_WORDS = ("0", "0.0", "false", "f", "no", "n", "")
_UNSAFE = r"[^A-Za-z0-9_.:\-]"
ISO = "%Y-%m-%dT%H:%M:%S%.f%:z"
GAP = pl.duration(hours=3)
"""Longer than any clock change: a local time this much earlier has the offset before it."""
BOOL_FIELDS = frozenset({"chip_card", "terminal_chip_capable", "success"})
NUMBER_FIELDS = frozenset({"amount", "balance_before", "atc", "records"})


def _scan(path: Path, fmt: str | None, delimiter: str) -> pl.LazyFrame:
    fmt = fmt or {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl",
                  ".json": "jsonl"}.get(path.suffix.lower())
    if fmt == "csv":
        # Every column as the text written: the mapping's conversions read numbers and times from it,
        # so a column's type is never guessed from its first rows.
        return pl.scan_csv(path, separator=delimiter, infer_schema=False)
    if fmt == "parquet":
        return pl.scan_parquet(path)
    if fmt == "jsonl":
        return pl.scan_ndjson(path, infer_schema_length=10_000)
    raise ValueError(f"cannot tell the format of {path.name}: set source.format (csv, parquet or jsonl)")


def read_source(paths: list[Path], mapping: Mapping, base: Path) -> pl.LazyFrame:
    """The sources (one or more files of one layout, read in the order given) as one lazy frame
    with each row's file name and 1-based row number in it, and the mapping's lookup tables
    (``source.join``, paths relative to ``base``) joined."""
    spec = mapping.spec.source
    parts = [_scan(p, spec.format, spec.delimiter).with_row_index(ROW, offset=1)
             .with_columns(pl.lit(p.name).alias(FILE)) for p in paths]
    lf = pl.concat(parts, how="vertical_relaxed") if len(parts) > 1 else parts[0]
    for join in spec.join:
        table = _scan(base / join.file, None, spec.delimiter)
        lf = lf.join(table, on=join.key, how="left", suffix="_" + Path(join.file).stem, maintain_order="left")
    return lf


def source_columns(lf: pl.LazyFrame) -> list[str]:
    return [c for c in lf.collect_schema().names() if c not in (ROW, FILE)]


@dataclass
class Plan:
    """Which output column feeds which event field, per event type."""

    fields: list[tuple[str, str]]  # (field, column) of plain values
    locations: list[tuple[str, dict[str, str]]]  # (field, {lat: column, ...})
    numbers: list[tuple[str, str]]  # attribute name, column
    texts: list[tuple[str, str]]
    has: dict[str, frozenset[str]]  # event type -> its fields
    bad: list[tuple[str, str, str]]  # (field, flag column, problem)
    tokens: list[tuple[str, str]]  # (field, prefix) whose value is replaced by its keyed token


class Converter:
    """Builds the converted frame of a mapping over a source."""

    def __init__(self, mapping: Mapping, columns: list[str]) -> None:
        self.mapping = mapping
        self.columns = columns
        self.derived = mapping.spec.columns
        self.exprs: list[pl.Expr] = []
        self.plan = Plan([], [], [], [], {t: event_fields(IMPORTABLE[t]) | {"attributes"} for t in mapping.types},
                         [], [])

    # -- expressions ------------------------------------------------------------------------------
    def _text(self, value: Value, field: str, out: str) -> pl.Expr:
        if isinstance(value, ComposedValue):
            parts = [pl.col(c).cast(pl.Utf8).fill_null("") for c in value.columns]
            expr = pl.concat_str(parts, separator=value.separator)
            if value.prefix:
                expr = pl.lit(value.prefix) + expr
            return expr
        if isinstance(value, ColumnValue):
            src = pl.col(value.column)
            if value.scale is not None:
                num = (src.cast(pl.Float64, strict=False) * value.scale).round(6)
                expr = num.round(0) if value.round else num
                self._flag(field, out, src.is_not_null() & expr.is_null(), f"{value.column!r} is not a number")
                return expr
            text = src.cast(pl.Utf8)
            if value.values is not None or value.match is not None:
                expr = self._table(text, value)
                self._flag(field, out, text.is_not_null() & expr.is_null(),
                           f"the value of {value.column!r} is not in the mapping's table")
                return expr
            if value.default is not None:
                text = text.fill_null(pl.lit(value.default).cast(pl.Utf8))
            return pl.lit(value.prefix) + text if value.prefix else text
        return pl.lit(value)

    def _table(self, text: pl.Expr, value: ColumnValue) -> pl.Expr:
        default = None if value.default is None else value.default
        if value.values is not None:
            table = {str(k): v for k, v in value.values.items()}
            out_type = pl.Utf8 if any(isinstance(v, str) for v in table.values()) else None
            return text.replace_strict(table, default=default, return_dtype=out_type)
        chain: Any = None
        for pattern, target in (value.match or {}).items():
            cond = text.str.contains(_glob_regex(pattern))
            chain = pl.when(cond).then(pl.lit(target)) if chain is None else chain.when(cond).then(pl.lit(target))
        return chain.otherwise(pl.lit(default)) if chain is not None else pl.lit(default)

    def _time(self, value: Value, field: str, out: str) -> tuple[pl.Expr, pl.Expr]:
        """(ISO text with the zone's offset, epoch seconds) of a time setting."""
        if not isinstance(value, ColumnValue):
            when = datetime.fromisoformat(str(value))
            return pl.lit(when.isoformat()), pl.lit(when.timestamp())
        zone = str(zone_of(value.timezone)) if value.timezone else "UTC"
        src = pl.col(value.column)
        if value.unit is not None:
            epoch = datetime.fromisoformat(value.epoch or "1970-01-01T00:00:00+00:00")
            per = {"d": 86400e6, "h": 3600e6, "m": 60e6, "s": 1e6, "ms": 1e3, "us": 1.0, "ns": 1e-3}[value.unit]
            base = pl.lit(epoch).dt.convert_time_zone("UTC")
            dt = base + pl.duration(microseconds=(src.cast(pl.Float64, strict=False) * per).round(0).cast(pl.Int64))
            parsed = dt
        elif value.format is not None:
            naive = src.cast(pl.Utf8).str.strptime(pl.Datetime("us"), value.format, strict=False)
            # a local time the clocks skip (put forward) is read with the offset before the change, as
            # a clock not yet put forward meant it; one they repeat (put back) as the earlier
            skipped = (naive - GAP).dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null") + GAP
            dt = pl.coalesce(naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null"), skipped)
            parsed = naive
        else:
            dt = src.cast(pl.Utf8).str.to_datetime(time_zone="UTC", strict=False)
            parsed = dt
        local = dt.dt.convert_time_zone(zone)
        self._flag(field, out, src.is_not_null() & parsed.is_null(),
                   f"{value.column!r} is not a time" + (f" in format {value.format!r}" if value.format else ""))
        return local.dt.to_string(ISO), (dt.dt.epoch("us").cast(pl.Float64) / 1e6)

    def _flag(self, field: str, out: str, cond: pl.Expr, problem: str) -> None:
        flag = f"__bad:{out}:{len(self.plan.bad)}"
        self.exprs.append(cond.fill_null(False).alias(flag))
        self.plan.bad.append((field, flag, problem))

    # -- the frame --------------------------------------------------------------------------------
    def frame(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        spec = self.mapping.spec
        if spec.columns:
            lf = lf.with_columns(pl.sql_expr(sql).alias(name) for name, sql in spec.columns.items())
        if spec.source.filter:
            lf = lf.filter(pl.sql_expr(spec.source.filter))
        event = spec.event
        exprs: list[pl.Expr] = [pl.col(ROW), pl.col(FILE)]
        type_value = event["type"]
        exprs.append(self._text(ColumnValue.model_validate(type_value) if isinstance(type_value, dict)
                                else type_value, "type", "type").cast(pl.Utf8).alias("type"))
        iso, epoch = self._time(_value(event["event_time"]), "event_time", "event_time")
        exprs += [iso.alias("event_time"), epoch.alias(TIME)]
        for field, raw in event.items():
            if field in ("type", "event_time"):
                continue
            if field in LOCATION_FIELDS:
                loc = LocationValue.model_validate(raw)
                parts: dict[str, str] = {}
                for part in ("lat", "lon", "city", "accuracy_km"):
                    sub = getattr(loc, part)
                    if sub is None:
                        continue
                    col = f"{field}.{part}"
                    expr = self._text(sub, f"{field}.{part}", col)
                    exprs.append((expr if part == "city" else expr.cast(pl.Float64, strict=False)).alias(col))
                    parts[part] = col
                self.plan.locations.append((field, parts))
                continue
            if field == "attributes":
                attrs = AttributesValue.model_validate(raw)
                for kind, names in (("n", attrs.numbers), ("s", attrs.text)):
                    for name in self._expand(names):
                        col = f"__a{kind}:{name}"
                        if kind == "n":
                            exprs.append(pl.col(name).cast(pl.Float64, strict=False).alias(col))
                            self.plan.numbers.append((_attr_name(name), col))
                        else:
                            exprs.append(pl.col(name).cast(pl.Utf8).str.slice(0, 64).alias(col))
                            self.plan.texts.append((_attr_name(name), col))
                continue
            value = _value(raw)
            if isinstance(value, ColumnValue) and value.token:
                self.plan.tokens.append((field, value.prefix))
                value = value.model_copy(update={"prefix": ""})  # the token, then the prefix (importer)
            if field in NUMBER_FIELDS and isinstance(value, ColumnValue) and value.scale is None:
                value = value.model_copy(update={"scale": 1.0})  # read as a number, flagged when it is not
            expr = self._text(value, field, field)
            if field in BOOL_FIELDS:
                expr = _truthy(expr)
            elif field in ID_FIELDS and not (isinstance(value, ColumnValue) and value.token):
                expr = _safe_id(expr.cast(pl.Utf8))
            exprs.append(expr.alias(field))
            self.plan.fields.append((field, field))
        labels = spec.labels
        if labels is not None:
            exprs.append(_truthy(self._text(labels.fraud, "labels.fraud", "__fraud")).alias("__fraud"))
            if labels.time is not None:
                liso, lepoch = self._time(labels.time, "labels.time", "__label")
                exprs += [liso.alias("__label_time"), lepoch.alias("__label_t")]
        return lf.select(*exprs, *self.exprs)

    def _expand(self, names: list[str]) -> list[str]:
        have = [*self.columns, *self.derived]
        out: list[str] = []
        for name in names:
            out += [c for c in have if fnmatch.fnmatchcase(c, name) and c not in out]
        return out


def _glob_regex(pattern: str) -> str:
    """A shell pattern (``*``, ``?``) as an anchored regular expression of the Rust regex crate."""
    out = []
    for ch in pattern:
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return "^" + "".join(out) + "$"


def _value(raw: Any) -> Value:
    if isinstance(raw, dict):
        return ComposedValue.model_validate(raw) if "columns" in raw else ColumnValue.model_validate(raw)
    return raw  # type: ignore[no-any-return]


def _attr_name(column: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", column)
    return name if name[:1].isalpha() else "a" + name


def _truthy(expr: pl.Expr) -> pl.Expr:
    text = expr.cast(pl.Utf8).str.to_lowercase().str.strip_chars()
    return pl.when(text.is_in(TRUE_WORDS)).then(True).when(text.is_in(FALSE_WORDS)).then(False).otherwise(None)


def _safe_id(expr: pl.Expr) -> pl.Expr:
    """Ids from other systems may hold spaces or punctuation: other characters become ``_`` and an
    id must start with a letter or digit (documented in docs/import.md)."""
    safe = expr.str.replace_all(_UNSAFE, "_")
    return pl.when(safe.str.contains(r"^[A-Za-z0-9]")).then(safe).otherwise(pl.lit("x") + safe)


def convert(mapping: Mapping, lf: pl.LazyFrame) -> tuple[pl.DataFrame, Plan]:
    """The converted frame (every source row, in source order) and how to read it."""
    conv = Converter(mapping, source_columns(lf))
    frame = conv.frame(lf).collect()
    return frame, conv.plan


def ordered(frame: pl.DataFrame, mapping: Mapping) -> pl.DataFrame:
    """Positions of every event, label and card reissue in event-time order: columns ``__pos`` (row
    of ``frame``), ``__kind`` (0 label, 1 event, 2 the card reissued after a fraud) and ``__t``;
    rows whose time could not be read come last. Labels come first at equal instants."""
    events = frame.select(pl.int_range(pl.len()).alias("__pos"), pl.lit(1, pl.Int8).alias(KIND), pl.col(TIME))
    parts = [events]
    labels = mapping.spec.labels
    if labels is not None:
        fraud = frame.select(pl.int_range(pl.len()).alias("__pos"), pl.col("__fraud"), pl.col(TIME),
                             *([pl.col("__label_t")] if labels.time is not None else []))
        fraud = fraud.filter(pl.col("__fraud").fill_null(False))
        when = pl.col("__label_t") if labels.time is not None else pl.col(TIME) + duration_secs(labels.delay or "0s")
        parts.append(fraud.select(pl.col("__pos"), pl.lit(0, pl.Int8).alias(KIND), when.alias(TIME)))
        if labels.reissue_after is not None and labels.blocks_card:
            later = when + duration_secs(labels.reissue_after)
            parts.append(fraud.select(pl.col("__pos"), pl.lit(2, pl.Int8).alias(KIND), later.alias(TIME)))
    both = pl.concat(parts)
    return both.sort([TIME, KIND, "__pos"], nulls_last=True)


def event_dict(row: dict[str, Any], plan: Plan, clean: bool = False) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """One row's event as the schemas read it, and the conversion problems of its fields (none when
    the caller already knows the row ``clean``)."""
    problems = [] if clean else [(field, why) for field, flag, why in plan.bad if row.get(flag)]
    etype = row["type"]
    has = plan.has.get(etype, frozenset())
    out: dict[str, Any] = {"type": etype, "event_time": row["event_time"]}
    for field, col in plan.fields:
        value = row[col]
        if value is not None and field in has:
            out[field] = value
    for field, parts in plan.locations:
        if field not in has:
            continue
        lat, lon = row[parts["lat"]], row[parts["lon"]] if "lon" in parts else None
        if lat is None or lon is None:
            continue
        loc: dict[str, Any] = {"lat": lat, "lon": lon}
        for part in ("city", "accuracy_km"):
            if part in parts and row[parts[part]] is not None:
                loc[part] = row[parts[part]]
        out[field] = loc
    if "attributes" in has and (plan.numbers or plan.texts):
        attrs: dict[str, Any] = {}
        for name, col in plan.numbers:
            v = row[col]
            if v is not None and v == v:  # NaN is "not given"
                attrs[name] = v
        for name, col in plan.texts:
            v = row[col]
            if v is not None and v != "":
                attrs[name] = v
        if attrs:
            out["attributes"] = attrs
    return out, problems


def iter_rows(frame: pl.DataFrame, order: pl.DataFrame, start: int = 0, batch: int = 20_000,
              check: Callable[[pl.DataFrame], list[bool]] | None = None,
              ) -> Iterator[tuple[int, int, dict[str, Any], bool]]:
    """``(position in order, kind, row, checked)`` from ``start`` on, in event-time order;
    ``checked`` is what ``check`` said of the row's batch (``False`` without one)."""
    n = len(order)
    for lo in range(start, n, batch):
        part = order.slice(lo, batch)
        rows = frame[part["__pos"].to_list()]
        kinds = part[KIND].to_list()
        flags = check(rows) if check is not None else [False] * len(rows)
        for i, row in enumerate(rows.iter_rows(named=True)):
            yield lo + i, kinds[i], row, flags[i]
