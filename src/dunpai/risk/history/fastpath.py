"""Validate imported rows column by column, and build their events without validating each again.

A year of history is millions of rows; validating each with the event schemas costs tens of
microseconds. Here the constraints of the schemas themselves — read from their JSON Schema
(patterns, lengths, enumerations, bounds, required fields) plus the few checks written in code
(whole minor units, at least one of ``card_id`` and ``pan``) — are evaluated over whole columns.
A row that passes every check is built directly (:func:`build`); a row that fails any, or whose
type has a field this module cannot check, goes the slow way, through ``parse_event``, which gives
the exact error. A property test holds the two equal: every row the fast path accepts, the schemas
accept, with the same event and the same stored JSON.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any

import polars as pl
from pydantic import BaseModel

from dunpai.risk.events.ingest import PanProtector
from dunpai.risk.events.schemas import MAX_ATTRIBUTES, AnyEvent, Location
from dunpai.risk.history.convert import Plan
from dunpai.risk.history.decode import construct
from dunpai.risk.history.mapping import IMPORTABLE

MONEY = {"amount": False, "balance_before": True}  # field -> may be negative
LIMIT = 10**15
_FIELD_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,39}$"


class Unsupported(Exception):
    """A schema form this module does not check: such rows take the slow way."""


def _string(schema: dict[str, Any], col: pl.Expr) -> pl.Expr:
    ok = col.is_not_null()
    if "pattern" in schema:
        ok &= col.str.contains(schema["pattern"])
    if "maxLength" in schema:
        ok &= col.str.len_chars() <= schema["maxLength"]
    if "minLength" in schema:
        ok &= col.str.len_chars() >= schema["minLength"]
    if "enum" in schema:
        ok &= col.is_in([str(v) for v in schema["enum"]])
    if "const" in schema:
        ok &= col == str(schema["const"])
    return ok


def _number(schema: dict[str, Any], col: pl.Expr, whole: bool) -> pl.Expr:
    x = col.cast(pl.Float64, strict=False)
    ok = x.is_not_null() & x.is_finite()
    if whole:
        ok &= x.round(0) == x
    for key, op in (("minimum", "ge"), ("ge", "ge"), ("maximum", "le"), ("le", "le"),
                    ("exclusiveMinimum", "gt"), ("gt", "gt"), ("exclusiveMaximum", "lt"), ("lt", "lt")):
        if key in schema:
            ok &= getattr(x, op)(schema[key])
    return ok


def _check(schema: dict[str, Any], col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A column's values satisfy one (non-null) schema alternative."""
    kind = schema.get("type")
    if kind == "string" and "format" not in schema:
        if dtype != pl.Utf8:
            raise Unsupported("text field read as a non-text column")
        return _string(schema, col)
    if kind == "integer":
        return _number(schema, col, whole=True)
    if kind == "number":
        return _number(schema, col, whole=False)
    if kind == "boolean":
        if dtype != pl.Boolean:
            raise Unsupported("flag read as a non-boolean column")
        return col.is_not_null()
    raise Unsupported(f"schema {schema}")


def _alternatives(schema: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """A property's non-null alternatives and whether null is allowed."""
    options = schema.get("anyOf", [schema])
    return [o for o in options if o.get("type") != "null"], any(o.get("type") == "null" for o in options)


class FastPath:
    """The column checks of one mapping's plan over its converted frame's schema."""

    def __init__(self, plan: Plan, schema: dict[str, pl.DataType], protector: PanProtector | None) -> None:
        self.plan = plan
        self.protector = protector
        self.locations = {f: parts for f, parts in plan.locations}
        self.checks: dict[str, pl.Expr] = {}
        for etype, fields in plan.has.items():
            try:
                self.checks[etype] = self._type_check(IMPORTABLE[etype], fields, schema)
            except Unsupported:
                continue  # every row of this type takes the slow way
        ok_attrs = (len(plan.numbers) + len(plan.texts) <= MAX_ATTRIBUTES
                    and all(pl.select(pl.lit(n).str.contains(_FIELD_NAME)).item()
                            for n, _ in (*plan.numbers, *plan.texts)))
        self.attributes_ok = ok_attrs

    def _type_check(self, model: type[BaseModel], has: frozenset[str], frame: dict[str, pl.DataType]) -> pl.Expr:
        js = model.model_json_schema()
        props, required = js["properties"], set(js.get("required", ()))
        defs = js.get("$defs", {})
        given = {f for f, _ in self.plan.fields if f in has} | {f for f, _ in self.plan.locations if f in has}
        ok = pl.col("event_time").is_not_null()  # the conversion wrote it as ISO 8601 with its offset
        for name in required - {"event_time"}:
            if name not in given:
                return pl.lit(False)  # a required field the mapping never gives: the slow way explains it
        for name in given:
            schema = props[name]
            if name in MONEY:
                x = pl.col(name).cast(pl.Float64, strict=False)
                rule = x.is_finite() & (x.round(0) == x) & (x.abs() <= LIMIT)
                if not MONEY[name]:
                    rule &= x >= 0
                ok &= rule if name in required else (pl.col(name).is_null() | rule)
                continue
            options, nullable = _alternatives(schema)
            if len(options) != 1:
                raise Unsupported(name)
            option = options[0]
            if "$ref" in option:
                ok &= self._location(name, defs[option["$ref"].split("/")[-1]], frame, nullable)
                continue
            rule = _check(option, pl.col(name), frame[name])
            ok &= rule if not nullable else (pl.col(name).is_null() | rule)
        if "card_id" in props and "pan" in props:
            card, pan = pl.col("card_id") if "card_id" in given else None, pl.col("pan") if "pan" in given else None
            if card is not None and pan is not None:
                ok &= card.is_null() ^ pan.is_null()  # both: the slow way checks they match
            elif card is None and pan is None:
                return pl.lit(False)
            else:
                ok &= (card if card is not None else pan).is_not_null()  # type: ignore[union-attr]
        return ok

    def _location(self, field: str, schema: dict[str, Any], frame: dict[str, pl.DataType], nullable: bool) -> pl.Expr:
        parts = dict(self.locations.get(field, {}))
        lat, lon = parts.get("lat"), parts.get("lon")
        if lat is None or lon is None:
            raise Unsupported(field)
        given = pl.col(lat).is_not_null() & pl.col(lon).is_not_null()
        ok = pl.lit(True)
        for part, col in parts.items():
            options, _ = _alternatives(schema["properties"][part])
            rule = _check(options[0], pl.col(col), frame[col])
            ok &= rule if part in ("lat", "lon") else (pl.col(col).is_null() | rule)
        # A place without latitude or longitude is simply not given (as the slow way builds it).
        return ~given | ok if nullable else given & ok

    def accepted(self, batch: pl.DataFrame) -> list[bool]:
        """Per row: whether the fast path may build it."""
        if batch.is_empty():
            return []
        flags = [pl.col(flag) for _, flag, _ in self.plan.bad]
        bad = pl.any_horizontal(flags) if flags else pl.lit(False)
        rule = pl.lit(False)
        for etype, check in self.checks.items():
            rule = pl.when(pl.col("type") == etype).then(check).otherwise(rule)
        attrs_ok = pl.lit(self.attributes_ok)
        for _, col in self.plan.numbers:
            attrs_ok &= pl.col(col).is_null() | pl.col(col).is_nan() | pl.col(col).is_finite()
        out: list[bool] = batch.select((~bad & rule & attrs_ok).fill_null(False)).to_series().to_list()
        return out

    def build(self, raw: dict[str, Any]) -> tuple[AnyEvent, str | None]:
        """The event of an accepted row (``raw`` from ``event_dict``) and its masked card number."""
        model = IMPORTABLE[raw["type"]]
        fields = dict(raw)
        fields["event_time"] = datetime.fromisoformat(raw["event_time"])
        for name in MONEY:
            if name in fields:
                fields[name] = Decimal(int(fields[name]))
        for name in self.locations:
            if name in fields:
                fields[name] = construct(Location, fields[name])
        for name in ("atc", "records"):
            if name in fields:
                fields[name] = int(fields[name])
        masked = None
        pan = fields.pop("pan", None)
        if pan is not None:
            if self.protector is None:
                raise Unsupported("no card-number token key")
            fields["card_id"] = self.protector.token(pan)
            masked = self.protector.mask(pan)
        attributes = fields.get("attributes")
        if attributes is not None:
            fields["attributes"] = {k: (float(v) if isinstance(v, int | float) else v) for k, v in attributes.items()
                                    if not (isinstance(v, float) and math.isnan(v))}
        event: AnyEvent = construct(model, fields)
        return event, masked
