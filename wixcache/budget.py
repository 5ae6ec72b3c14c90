"""The site's Wix rate budget, one for every process on every machine.

Wix allows a site (an app instance) 200 requests a minute, whoever sends them: the web server's
workers, every `db_worker` and every webhook. Each request is first written down here, in the
database they all share, and sent only while fewer than the budget were sent in the last
`WINDOW_SECONDS`. People go first: background work (syncs, bulk job polls) leaves
WIX_INTERACTIVE_RESERVE of the budget for requests a person is waiting for.

Times come from the database's clock on PostgreSQL (so that machines whose clocks drift agree)
and from this machine's on SQLite (one machine by nature).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection, transaction

from labelsite.wix import WixClient, WixConfig
from wixcache.models import WixRequest

# A little over a minute: a request written down at t reaches Wix a few milliseconds later,
# so a window of exactly 60 s here could let Wix see one too many in its own.
WINDOW_SECONDS = 61.0


def _now() -> float:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT extract(epoch FROM clock_timestamp())")
            return float(cursor.fetchone()[0])
    return time.time()


def _serialize() -> None:
    """One process at a time decides; the others wait here (a lock on PostgreSQL; on SQLite the
    first write statement takes the database's write lock)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('labelsite wix budget'))")


class SiteBudget:
    """A pacer for `WixClient` that counts against the shared budget."""

    def __init__(
        self,
        per_minute: int,
        *,
        interactive: bool,
        reserve: int = 0,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.per_minute = per_minute
        self.interactive = interactive
        self.limit = per_minute if interactive else max(1, per_minute - reserve)
        self._sleep = sleep

    def wait(self) -> float:
        """Block until a request may be sent, write it down, and return how long it waited."""
        if self.per_minute <= 0:
            return 0.0
        waited = 0.0
        while True:
            delay = self._take()
            if delay is None:
                return waited
            self._sleep(delay)
            waited += delay

    def _take(self) -> float | None:
        """Write this request down if the window has room; else how long to wait for room."""
        # Its own transaction, committed at once: never part of a caller's (no Wix call is
        # made inside a transaction, and the budget must be visible to the others now).
        with transaction.atomic(durable=not connection.in_atomic_block):
            _serialize()
            now = _now()
            WixRequest.objects.filter(at__lte=now - WINDOW_SECONDS).delete()
            recent = list(
                WixRequest.objects.filter(at__gt=now - WINDOW_SECONDS)
                .order_by("at")
                .values_list("at", flat=True)
            )
            if len(recent) < self.limit:
                WixRequest.objects.create(at=now, interactive=self.interactive)
                return None
            # Room comes when enough of the oldest leave the window.
            oldest_to_leave = recent[len(recent) - self.limit]
            return max(0.01, oldest_to_leave + WINDOW_SECONDS - now)


def site_client(*, interactive: bool, **overrides) -> WixClient:
    """A Wix client for this site that counts against the site's shared budget. `interactive`
    for a request a person waits for; background work leaves them the reserve."""
    config = WixConfig.from_settings()
    budget = SiteBudget(
        config.max_requests_per_minute,
        interactive=interactive,
        reserve=settings.WIX_INTERACTIVE_RESERVE,
    )
    return WixClient.from_settings(pacer=budget, **overrides)
