"""Settings of the decision path's edge: how far ahead of the service clock an event may be dated,
and how long ``POST /v1/events`` may take before the card switch gets the stand-in decision."""

from __future__ import annotations

from pydantic import Field

from dunpai.core.config.base import Section


class EventSettings(Section):
    """How ``POST /v1/events`` treats time: the events' clocks and the caller's deadline."""

    max_future_skew_s: float = Field(
        default=300.0, ge=0, le=86_400,
        description="an event dated more than this many seconds after the service clock is refused (422 naming "
                    "event_time): a far-future time would make every later event look late to the features")
    deadline_ms: int = Field(
        default=300, ge=10, le=60_000,
        description="POST /v1/events answers within this many milliseconds: past it (or when the database, state "
                    "store or model fails) with the stand-in decision, rules on the event alone, marked degraded; "
                    "the event is recorded once the dependency answers")
