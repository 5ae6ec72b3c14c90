"""Settle, now, the changes that crashed processes left between "planned" and "done"."""

from django.core.management.base import BaseCommand

from journal.settle import operations_settle
from wixcache.budget import site_client


class Command(BaseCommand):
    help = (
        "Check every change left open by a process that died against Wix, and end it: done "
        "(the cache made to follow Wix) or failed (nothing changed). The worker does this "
        "every OPERATION_SETTLE_INTERVAL_SECONDS by itself."
    )

    def handle(self, *args, **options):
        with site_client(interactive=False) as client:
            counts = operations_settle(client=client)
        self.stdout.write(
            f"Settled: {counts['done']} done, {counts['failed']} failed; "
            f"{counts['open']} still open (their process is alive, or Wix did not answer)."
        )
