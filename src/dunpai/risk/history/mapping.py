"""The import mapping: how the columns of a bank's own file become Dunpai events and labels.

A mapping is declarative YAML (documented field by field in ``docs/import.md``). It is checked
completely before any row is read — against the event schemas and against the source's column
names — and every problem names the mapping's line. The conversion itself is in ``convert.py``.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from datetime import datetime
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from dunpai.core.errors import FieldProblem, InvalidInput
from dunpai.risk.events.schemas import (
    CardEvent,
    CardNotPresent,
    CardPresent,
    DeviceEvent,
    Login,
    MobileTransfer,
    StaffAccess,
)
from dunpai.risk.history.yamlpos import Path, line_of, load_with_lines

IMPORTABLE: dict[str, type[BaseModel]] = {
    "card_present": CardPresent, "card_not_present": CardNotPresent, "mobile_transfer": MobileTransfer,
    "login": Login, "device": DeviceEvent, "card": CardEvent, "staff_access": StaffAccess,
}
"""Event types an import may create (labels come from ``labels:``)."""
LOCATION_FIELDS = frozenset({"terminal_location", "merchant_location", "customer_home", "location"})
ID_FIELDS = frozenset({"event_id", "card_id", "account_id", "customer_id", "terminal_id", "merchant_id", "device_id",
                       "payee_id", "employee_id", "branch_id", "customer_branch_id", "business_ref"})
NOT_MAPPABLE = frozenset({"schema_version", "shield", "type", "attributes"})
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Scalar = str | int | float | bool


class ColumnValue(_Strict):
    """A value read from one column, optionally transformed."""

    column: str
    scale: float | None = None
    """Multiply numbers (``100``: dollars to cents)."""
    round: bool = False
    """Round a scaled amount to whole minor units (otherwise a fraction of a cent is an error)."""
    prefix: str = ""
    token: bool = False
    """Store a keyed token of the value (under the card-number token key) instead of the value: for
    ids made from a card number, which must never be stored in clear."""
    values: dict[str, Scalar] | None = None
    """Value table: the column's text -> the event's value. Unlisted values take ``default``."""
    match: dict[str, Scalar] | None = None
    """Like ``values`` with shell-style patterns (``"*_pos"``); the first matching pattern wins."""
    default: Scalar | None = None
    unit: Literal["d", "h", "m", "s", "ms", "us", "ns"] | None = None
    """Times as numbers: days, hours, minutes, seconds, ms, us or ns since ``epoch``."""
    epoch: str | None = None
    """When a numeric time is 0 (ISO 8601 with an offset; default 1970-01-01T00:00:00+00:00)."""
    format: str | None = None
    """Times as text in this ``strptime`` format (without one, ISO 8601 with an offset)."""
    timezone: str | None = None
    """The zone of times written without an offset (IANA name such as ``Asia/Shanghai``, or
    ``+08:00``); events carry local time in it (hour-of-day habits). Default UTC."""

    @model_validator(mode="after")
    def _one_table(self) -> ColumnValue:
        if self.values is not None and self.match is not None:
            raise ValueError("use either values or match, not both")
        if self.epoch is not None and self.unit is None:
            raise ValueError("epoch needs unit (d, h, m, s, ms, us or ns)")
        if self.unit is not None and self.format is not None:
            raise ValueError("a time is either a number (unit) or text (format), not both")
        if self.epoch is not None:
            _aware_time(self.epoch)
        if self.timezone is not None:
            zone_of(self.timezone)
        return self


class ComposedValue(_Strict):
    """An id made of several columns joined by ``separator`` (missing parts left empty)."""

    columns: list[str] = Field(min_length=1)
    separator: str = Field(default="-", max_length=3)
    prefix: str = ""


Value = Scalar | ColumnValue | ComposedValue


class LocationValue(_Strict):
    lat: Value
    lon: Value
    city: Value | None = None
    accuracy_km: Value | None = None


class AttributesValue(_Strict):
    """Columns passed to the model as the bank's own signals; names may be patterns (``V*``)."""

    numbers: list[str] = []
    text: list[str] = []


class LabelSpec(_Strict):
    """Fraud labels: a row whose ``fraud`` value is true gets a label event, known ``delay`` after
    the event or at the ``time`` column's value."""

    fraud: ColumnValue
    delay: str | None = None
    time: ColumnValue | None = None
    source: Literal["analyst", "customer_claim", "chargeback", "police", "import"] = "import"
    blocks_card: bool = True
    """Whether a confirmed fraud blocks the card until reissue (false when ``card_id`` is not one
    physical card, e.g. composed from card attributes many cards share)."""
    reissue_after: str | None = "14d"
    """The bank replaces a card blocked after a fraud this long after the label (a ``card`` event
    ``reissue``): later rows with the same card id are the customer's new card. ``null``: the
    file's own card events (or none) end blocks."""

    @field_validator("delay", "reissue_after")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None:
            duration_secs(v)
        return v

    @model_validator(mode="after")
    def _when(self) -> LabelSpec:
        if (self.delay is None) == (self.time is None):
            raise ValueError("give exactly one of delay (e.g. 7d) or time (a column)")
        return self


class JoinSpec(_Strict):
    """A lookup table joined to every row (terminals' or customers' places, merchants' details)."""

    file: str
    """Path of a CSV, Parquet or JSON-lines file, relative to the (first) source file's folder."""
    key: str
    """The key column, named the same in both."""


class SourceSpec(_Strict):
    format: Literal["csv", "parquet", "jsonl"] | None = None
    """Default: from the file's extension."""
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    filter: str | None = None
    """Keep only rows where this SQL condition holds (``type IN ('TRANSFER', 'CASH_OUT')``)."""
    join: list[JoinSpec] = []


class MappingSpec(_Strict):
    version: Literal[1] = 1
    source: SourceSpec = SourceSpec()
    columns: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], str] = {}
    """Derived columns: name -> SQL expression over the source's columns (``floor(dt / 86400)``)."""
    event: dict[str, Any]
    labels: LabelSpec | None = None


def duration_secs(text: str) -> float:
    m = _DURATION.match(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not a duration such as 30m, 36h or 7d")
    return float(m.group(1)) * _UNITS[m.group(2)]


def zone_of(name: str) -> ZoneInfo | str:
    """An IANA zone, or a fixed offset written ``+08:00`` (returned as text for polars)."""
    if re.fullmatch(r"[+-]\d\d:\d\d", name):
        return name
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai, or +08:00)") from None


def _aware_time(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"{text!r} needs an offset, e.g. 2018-04-01T00:00:00+00:00")
    return when


# -- what each event field accepts ---------------------------------------------------------------


def event_fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(model.model_fields) - NOT_MAPPABLE - {"type"}


def _literal_choices(model: type[BaseModel], field: str) -> tuple[str, ...] | None:
    info = model.model_fields.get(field)
    if info is None:
        return None
    choices = [a for arg in (info.annotation, *get_args(info.annotation)) for a in _literals(arg)]
    return tuple(choices) or None


def _literals(tp: Any) -> list[str]:
    if getattr(tp, "__origin__", None) is Literal:
        return [str(a) for a in get_args(tp)]
    return []


def check_constant(model: type[BaseModel], field: str, value: Any) -> str | None:
    """Why ``value`` cannot be the event's ``field`` (``None`` when it can)."""
    info = model.model_fields[field]
    if field in ID_FIELDS:
        return None  # ids are made safe on import (see convert.safe_id)
    try:
        TypeAdapter(info.annotation if info.annotation is not None else Any).validate_python(value)
    except ValidationError as exc:
        return exc.errors(include_url=False)[0]["msg"]
    return None


class Mapping:
    """A validated mapping: its spec, the event types it can produce and where each setting was
    written (for errors)."""

    def __init__(self, spec: MappingSpec, lines: dict[Path, int], types: tuple[str, ...]) -> None:
        self.spec = spec
        self.lines = lines
        self.types = types

    def problem(self, path: Path, text: str) -> FieldProblem:
        line = line_of(self.lines, path)
        where = ".".join(str(p) for p in path) or "$"
        return FieldProblem(f"line {line}: {where}" if line else where, text)

    def columns_used(self) -> dict[Path, list[str]]:
        """Source column names each setting reads (patterns for attributes)."""
        out: dict[Path, list[str]] = {}
        for field, raw in self.spec.event.items():
            _collect(("event", field), raw, out)
        if self.spec.labels is not None:
            out[("labels", "fraud", "column")] = [self.spec.labels.fraud.column]
            if self.spec.labels.time is not None:
                out[("labels", "time", "column")] = [self.spec.labels.time.column]
        return out

    def card_number_leaks(self) -> list[FieldProblem]:
        """Settings that would store the card numbers of ``pan``'s column in clear: any event field
        that reads that column (or a derived column computed from it), alone, in a composed id or
        matched by an attribute pattern, except an id that stores its keyed token (``token: true``)."""
        pan = _column_of(self.spec.event.get("pan"))
        if pan is None:
            return []
        carriers = {pan}
        for name, sql in self.spec.columns.items():  # in order: a derived column reads earlier ones
            if any(_mentions(sql, c) for c in carriers):
                carriers.add(name)
        problems = []
        for path, names in self.columns_used().items():
            if path[0] != "event" or path[1] == "pan":
                continue
            read = [c for c in carriers if any(fnmatch.fnmatchcase(c, n) for n in names)] \
                if path[1] == "attributes" else [c for c in carriers if c in names]
            raw = self.spec.event[str(path[1])]
            alone = path[2:] == ("column",)  # the field is {column: ...} itself
            if not read or (alone and isinstance(raw, dict) and raw.get("token")):
                continue
            why = ("add token: true, or they would be stored in clear" if alone and path[1] in ID_FIELDS
                   else "they would be stored in clear (an id may read them alone with token: true)")
            problems.append(self.problem(path, f"reads the card numbers of {read[0]!r}: {why}"))
        return problems

    def check_columns(self, available: list[str]) -> None:
        """Every column the mapping reads exists in the source (or is derived, or is one of
        ``__row`` and ``__file``: a row's number in its file and the file's name). Raises
        ``InvalidInput`` naming the line and the nearest real names."""
        have = set(available) | set(self.spec.columns) | {"__row", "__file"}
        problems = []
        for path, names in self.columns_used().items():
            for name in names:
                if path[1] == "attributes":
                    if not any(fnmatch.fnmatchcase(c, name) for c in have):
                        problems.append(self.problem(path, f"no source column matches {name!r}"))
                elif name not in have:
                    near = difflib.get_close_matches(name, sorted(have), n=3)
                    hint = f" (did you mean {', '.join(near)}?)" if near else ""
                    problems.append(self.problem(path, f"no column {name!r} in the source{hint}"))
        if problems:
            raise InvalidInput("the mapping reads columns the source does not have", problems=problems)


    def check_derived(self, lf: Any) -> None:
        """The filter and derived columns are SQL the source can run (checked on its schema)."""
        import polars as pl

        problems: list[FieldProblem] = []
        exprs: list[Any] = []
        for name, sql in self.spec.columns.items():
            try:
                expr = pl.sql_expr(sql).alias(name)
                lf.with_columns([*exprs, expr]).collect_schema()
            except Exception as exc:
                problems.append(self.problem(("columns", name), _first_line(exc)))
                continue
            exprs.append(expr)
        if self.spec.source.filter:
            try:
                lf.with_columns(exprs).filter(pl.sql_expr(self.spec.source.filter)).collect_schema()
            except Exception as exc:
                problems.append(self.problem(("source", "filter"), _first_line(exc)))
        if problems:
            raise InvalidInput("the mapping's SQL does not run on the source", problems=problems)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300]


def _collect(path: Path, raw: Any, out: dict[Path, list[str]]) -> None:
    if isinstance(raw, dict):
        if "column" in raw:
            out[(*path, "column")] = [str(raw["column"])]
        elif "columns" in raw:
            out[(*path, "columns")] = [str(c) for c in raw["columns"]]
        elif path[-1] == "attributes":
            for kind in ("numbers", "text"):
                for i, name in enumerate(raw.get(kind, []) or []):
                    out[(*path, kind, i)] = [str(name)]
        else:
            for key, sub in raw.items():
                _collect((*path, key), sub, out)


def load_mapping(text: str) -> Mapping:
    """Parse and check a mapping; raises ``InvalidInput`` whose problems each name a line."""
    raw, lines = load_with_lines(text, "the mapping")
    if not isinstance(raw, dict):
        raise InvalidInput("the mapping must be a YAML mapping", problems=[FieldProblem("line 1", "not a mapping")])

    def where(path: Path) -> str:
        line = line_of(lines, path)
        name = ".".join(str(p) for p in path) or "$"
        return f"line {line}: {name}" if line else name

    try:
        spec = MappingSpec.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput("the mapping is not valid", problems=[
            FieldProblem(where(tuple(e["loc"])), e["msg"]) for e in exc.errors(include_url=False)]) from None
    problems: list[FieldProblem] = []
    types = _event_types(spec, where, problems)
    models = [IMPORTABLE[t] for t in types]
    for field, value in spec.event.items():
        path: Path = ("event", field)
        if field == "type":
            continue
        owners = [m for m in models if field in event_fields(m)]
        if field == "attributes":
            if not any("attributes" in m.model_fields for m in models):
                problems.append(FieldProblem(where(path), "these event types carry no attributes"))
            else:
                _check(AttributesValue, value, path, where, problems)
            continue
        if not owners:
            known = sorted({f for m in models for f in event_fields(m)} | {"attributes"})
            near = difflib.get_close_matches(field, known, n=3)
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            problems.append(FieldProblem(where(path), f"not a field of {', '.join(types)}{hint}"))
            continue
        if field in LOCATION_FIELDS:
            _check(LocationValue, value, path, where, problems)
            continue
        parsed = _check_value(value, path, where, problems)
        if parsed is None:
            continue
        for model in owners:
            for candidate, sub in _constants(parsed):
                why = check_constant(model, field, candidate)
                if why is not None:
                    problems.append(FieldProblem(where((*path, *sub)), f"{candidate!r}: {why}"))
    mapping = Mapping(spec, lines, types)
    problems += mapping.card_number_leaks()
    for required in ("event_id", "event_time"):
        if required not in spec.event:
            problems.append(FieldProblem(where(("event",)), f"{required} is required"))
    if problems:
        raise InvalidInput("the mapping is not valid", problems=problems)
    return mapping


def _column_of(raw: Any) -> str | None:
    return str(raw["column"]) if isinstance(raw, dict) and "column" in raw else None


def _mentions(sql: str, column: str) -> bool:
    """Whether an SQL expression may read ``column`` (as a word, quoted or not)."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(column)}(?![A-Za-z0-9_])", sql) is not None


def _event_types(spec: MappingSpec, where: Any, problems: list[FieldProblem]) -> tuple[str, ...]:
    raw = spec.event.get("type")
    if raw is None:
        problems.append(FieldProblem(where(("event",)), "type is required (a constant or a column's value table)"))
        return ("card_present",)
    parsed = _check_value(raw, ("event", "type"), where, problems)
    if parsed is None:
        return ("card_present",)
    found: list[str] = []
    for value, sub in _constants(parsed):
        if value not in IMPORTABLE:
            problems.append(FieldProblem(where(("event", "type", *sub)),
                                         f"{value!r} is not an event type ({', '.join(IMPORTABLE)})"))
        elif value not in found:
            found.append(str(value))
    if isinstance(parsed, ColumnValue) and parsed.values is None and parsed.match is None:
        found = list(IMPORTABLE)  # the column holds the type names themselves
    return tuple(found) or ("card_present",)


def _check(model: type[BaseModel], value: Any, path: Path, where: Any, problems: list[FieldProblem]) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            problems.append(FieldProblem(where((*path, *e["loc"])), e["msg"]))
    return None


def _check_value(value: Any, path: Path, where: Any, problems: list[FieldProblem]) -> Value | None:
    if isinstance(value, dict):
        model: type[BaseModel] = ComposedValue if "columns" in value else ColumnValue
        parsed: Value | None = _check(model, value, path, where, problems)
        return parsed
    if isinstance(value, str | int | float | bool):
        return value
    problems.append(FieldProblem(where(path), "expected a constant, {column: ...} or {columns: [...]}"))
    return None


def _constants(value: Value) -> list[tuple[Scalar, Path]]:
    """The event values a setting can produce that are known before reading rows."""
    if isinstance(value, ColumnValue):
        out: list[tuple[Scalar, Path]] = []
        for key, table in (("values", value.values), ("match", value.match)):
            for k, v in (table or {}).items():
                out.append((v, (key, k)))
        if value.default is not None:
            out.append((value.default, ("default",)))
        return out
    if isinstance(value, ComposedValue):
        return []
    return [(value, ())]


