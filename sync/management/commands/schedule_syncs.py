from django.conf import settings
from django.core.management.base import BaseCommand

from journal.tasks import settle_operations_schedule
from sync.tasks import periodic_sync_schedule


class Command(BaseCommand):
    help = (
        "Queue the worker's regular work, unless it is queued already: the periodic incremental "
        "sync, and the settling of changes that crashed processes left open."
    )

    def handle(self, **options):
        if periodic_sync_schedule():
            self.stdout.write(f"Incremental sync every {settings.SYNC_INTERVAL_SECONDS}s queued.")
        else:
            self.stdout.write("Periodic sync already queued (or SYNC_INTERVAL_SECONDS is 0).")
        if settle_operations_schedule():
            self.stdout.write(
                f"Settling open changes every {settings.OPERATION_SETTLE_INTERVAL_SECONDS}s queued."
            )
        else:
            self.stdout.write(
                "Settling already queued (or OPERATION_SETTLE_INTERVAL_SECONDS is 0)."
            )
