"""Shared constants of the shield tests."""

from __future__ import annotations

from datetime import UTC, datetime

T0 = datetime(2026, 3, 1, 20, 15, tzinfo=UTC)
