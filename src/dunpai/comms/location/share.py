"""End-to-end location sharing at a chosen precision (pure).

A location is only ever sent as E2E content (``{"type": "location", ...}``) inside an Olm/Megolm
message - the service and the bridge never see it. The sender chooses how precise it is; coarsening
happens on the sender's device before encryption, by snapping to the centre of a grid cell, so the
exact position cannot be recovered from what was sent.

| precision | grid | about |
|---|---|---|
| ``exact`` | 1e-5 degree | 1 m |
| ``km`` | 0.01 degree | 1 km |
| ``city`` | 0.1 degree | 10 km |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Literal, get_args

from dunpai.comms.errors import MalformedFrame

Precision = Literal["exact", "km", "city"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
FORMAT = "dunpai-location-v1"
_GRID = {"exact": Decimal("0.00001"), "km": Decimal("0.01"), "city": Decimal("0.1")}
_ACCURACY_M = {"exact": 1, "km": 1000, "city": 10000}


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float
    precision: Precision
    accuracy_m: int
    at_ms: int


def _snap(value: float, grid: Decimal) -> float:
    cell = (Decimal(repr(value)) / grid).to_integral_value(rounding=ROUND_FLOOR)
    return float(cell * grid + grid / 2)


def _check(lat: float, lon: float) -> None:
    if not (math.isfinite(lat) and math.isfinite(lon)) or not -90 <= lat <= 90 or not -180 <= lon <= 180:
        raise MalformedFrame("latitude must be in [-90, 90] and longitude in [-180, 180]")


def coarsen(lat: float, lon: float, precision: Precision, at_ms: int) -> Location:
    """The location to send: the centre of the ``precision`` grid cell holding (lat, lon)."""
    if precision not in _GRID:
        raise MalformedFrame(f"precision must be one of {', '.join(PRECISIONS)}")
    _check(lat, lon)
    grid = _GRID[precision]
    return Location(min(90.0, _snap(lat, grid)), min(180.0, _snap(lon, grid)), precision,
                    _ACCURACY_M[precision], at_ms)


def location_content(loc: Location) -> dict[str, Any]:
    """E2E content for a location message."""
    return {"type": "location", "format": FORMAT, "lat": loc.lat, "lon": loc.lon, "precision": loc.precision,
            "accuracy_m": loc.accuracy_m, "at": loc.at_ms}


def parse_location(content: dict[str, Any]) -> Location:
    """Validate received location content; raises ``MalformedFrame``."""
    if content.get("type") != "location" or content.get("format") != FORMAT:
        raise MalformedFrame("not a dunpai-location-v1 message")
    lat, lon, precision = content.get("lat"), content.get("lon"), content.get("precision")
    at, accuracy = content.get("at"), content.get("accuracy_m")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float) or precision not in _GRID:
        raise MalformedFrame("location fields are missing or of the wrong type")
    if not isinstance(at, int) or not isinstance(accuracy, int) or accuracy != _ACCURACY_M[str(precision)]:
        raise MalformedFrame("location fields are missing or of the wrong type")
    _check(float(lat), float(lon))
    return Location(float(lat), float(lon), precision, accuracy, at)
