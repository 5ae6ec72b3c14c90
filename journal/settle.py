"""Settling what a crash left between "planned" and "done": each open operation whose process is
gone is checked against Wix and ends done (the cache made to follow what Wix did) or failed
(nothing changed). The apps register a settler for each kind of operation they write."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from journal.models import Operation
from labelsite.processes import process_running, this_process

logger = logging.getLogger(__name__)

# kind -> settle(op, client): ends the operation, or leaves it open while its jobs run.
SETTLERS: dict[str, Callable] = {}
# Run before the operations are looked at: e.g. revive bulk jobs whose worker died.
SWEEPERS: list[Callable] = []


def settler(kind: str) -> Callable:
    def register(function: Callable) -> Callable:
        SETTLERS[kind] = function
        return function

    return register


def process_gone(
    process: str, updated_at, *, stale_after: float | None = None, alive_wins: bool = False
) -> bool:
    """A process is gone when it is not running on this host, or its work has not moved for
    OPERATION_STALE_SECONDS (`alive_wins`: a process running on this host is never gone). No
    process: the work was left for settling."""
    if not process:
        return True  # left for settling on purpose (Wix did not answer)
    running = process_running(process)
    if running is False:
        return True
    if running and alive_wins:
        return False
    stale_after = stale_after or settings.OPERATION_STALE_SECONDS
    # Elsewhere, or here but its work has long stopped moving: taken as gone.
    return updated_at < timezone.now() - timedelta(seconds=stale_after)


def _claim(op: Operation) -> bool:
    """Take the operation over, unless another settler did first (it then looks alive)."""
    claimed = Operation.objects.filter(
        pk=op.pk, process=op.process, state__in=Operation.OPEN_STATES
    ).update(process=this_process(), updated_at=timezone.now())
    op.process = this_process()
    return bool(claimed)


def operations_settle(*, client) -> dict[str, int]:
    """Settle every open operation left by a process that is gone. Returns counts by outcome,
    and how many jobs whose worker died were queued again."""
    counts = {"done": 0, "failed": 0, "open": 0, "revived": 0}
    for sweep in SWEEPERS:
        counts["revived"] += sweep(client=client) or 0
    ops = Operation.objects.filter(state__in=Operation.OPEN_STATES).exclude(
        kind__in=[Operation.Kind.SYNC]
    )
    for op in ops.order_by("created_at", "id"):
        settle = SETTLERS.get(op.kind)
        if settle is None or not process_gone(op.process, op.updated_at) or not _claim(op):
            counts["open"] += 1
            continue
        try:
            settle(op, client=client)
        except Exception:
            logger.exception("Could not settle operation %s; trying again later", op.pk)
            # Let go of it, so that the next round (of any worker) tries again.
            Operation.objects.filter(pk=op.pk, state__in=Operation.OPEN_STATES).update(process="")
        op.refresh_from_db(fields=["state"])
        key = op.state if op.state in ("done", "failed") else "open"
        counts[key] += 1
    return counts
