"""Numbers and durations in plain words, as pages and messages say them: "1 page", "2,000 new,
none changed, none deleted", "0.8 s", "2 min 5 s"."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.timesince import timesince


def counted(number: int, singular: str, plural: str = "") -> str:
    """`number` with thousands separated and the noun agreeing: "1 page", "2,000 pages"."""
    noun = singular if number == 1 else (plural or f"{singular}s")
    return f"{number:,} {noun}"


def changes(created: int, updated: int, deleted: int) -> str:
    """What a sync did to one kind of record: "2,000 new, none changed, none deleted"."""
    if not (created or updated or deleted):
        return "nothing new, changed or deleted"
    parts = zip((created, updated, deleted), ("new", "changed", "deleted"), strict=True)
    return ", ".join(f"{n:,} {word}" if n else f"none {word}" for n, word in parts)


def duration(value: timedelta | float | None) -> str:
    """A duration as people read it: "0.8 s", "12 s", "2 min 5 s", "1 h 20 min"."""
    if value is None:
        return ""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    seconds = max(seconds, 0.0)
    if seconds < 0.05:
        return "under 0.1 s"
    if round(seconds, 1) < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago: "just now", "3 minutes ago", "2 hours, 5 minutes ago"."""
    if moment is None:
        return ""
    now = now or timezone.now()
    if now - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, now)} ago"
