from django.conf import settings
from django.core.management.base import BaseCommand

from contacts.tasks import audience_sizes_schedule, living_labels_schedule
from journal.tasks import settle_operations_schedule
from sync.tasks import periodic_sync_schedule


class Command(BaseCommand):
    help = (
        "Queue the worker's regular work, unless it is queued already: the periodic incremental "
        "sync, the settling of changes that crashed processes left open, and the counting of "
        "saved audiences for their size over time."
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
        if audience_sizes_schedule():
            self.stdout.write(
                f"Counting saved audiences every {settings.AUDIENCE_SIZE_INTERVAL_SECONDS}s queued."
            )
        else:
            self.stdout.write(
                "Audience counting already queued (or AUDIENCE_SIZE_INTERVAL_SECONDS is 0)."
            )
        if living_labels_schedule():
            self.stdout.write(
                f"Living labels checked every {settings.LIVING_LABEL_INTERVAL_SECONDS}s queued."
            )
        else:
            self.stdout.write(
                "Living labels already queued (or LIVING_LABEL_INTERVAL_SECONDS is 0)."
            )
