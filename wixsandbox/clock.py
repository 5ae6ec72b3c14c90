"""Timestamps in Wix's format: ISO-8601 UTC with milliseconds and a trailing Z."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from .errors import invalid

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def parse_iso_ms(value: str) -> int:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // timedelta(milliseconds=1)


def normalize_date(value: object, field: str) -> str:
    """Clients send dates with or without milliseconds, or wrapped as {"$date": ...}.

    Stored dates share one fixed-width format, so normalized strings compare like the instants.
    """
    if isinstance(value, dict) and set(value) == {"$date"}:
        value = value["$date"]
    if not isinstance(value, str):
        raise invalid(field, "must be an ISO-8601 date-time string", "FORMAT")
    try:
        return iso(parse_iso_ms(value))
    except ValueError:
        raise invalid(field, f"{value!r} is not an ISO-8601 date-time", "FORMAT") from None
