from django.conf import settings
from django.core.management.base import BaseCommand

from sync.tasks import periodic_sync_schedule


class Command(BaseCommand):
    help = "Queue the periodic incremental sync for the worker, unless it is queued already."

    def handle(self, **options):
        if periodic_sync_schedule():
            self.stdout.write(f"Incremental sync every {settings.SYNC_INTERVAL_SECONDS}s queued.")
        else:
            self.stdout.write("Periodic sync already queued (or SYNC_INTERVAL_SECONDS is 0).")
