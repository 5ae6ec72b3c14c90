import shutil

from django.core.management.base import BaseCommand, CommandError

from labelsite.wix import WixConfigurationError
from labelsite.words import changes, counted, duration
from sync.models import SyncRun
from sync.service import SyncAlreadyRunning, SyncFailed, sync_wix


def summary(run: SyncRun) -> str:
    took = (run.finished_at - run.started_at) if run.finished_at else 0
    return (
        f"{run.get_kind_display()} sync #{run.pk} done in {duration(took)}: "
        f"labels {changes(run.labels_created, run.labels_updated, run.labels_deleted)}; "
        f"contacts {changes(run.contacts_created, run.contacts_updated, run.contacts_deleted)} "
        f"({counted(run.contacts_seen, 'contact')} read in {counted(run.pages, 'page')}, "
        f"{counted(run.requests, 'request')})."
    )


class Command(BaseCommand):
    help = "Bring the local cache of labels and contacts up to date with Wix."

    def add_arguments(self, parser):
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument(
            "--full",
            action="store_true",
            help="read every contact and delete what Wix no longer has (default: incremental)",
        )
        scope.add_argument("--labels-only", action="store_true", help="sync labels only")
        parser.add_argument(
            "--allow-mass-delete",
            action="store_true",
            help="with --full: delete what Wix no longer has even when that is more than "
            "SYNC_MASS_DELETE_SHARE of the cache (a run without it stops and asks)",
        )

    def handle(self, *, full: bool, labels_only: bool, allow_mass_delete: bool, **options):
        if allow_mass_delete and not full:
            raise CommandError("--allow-mass-delete goes with --full: only full runs delete.")
        kind = SyncRun.Kind.FULL if full else SyncRun.Kind.INCREMENTAL
        if labels_only:
            kind = SyncRun.Kind.LABELS
        show_bar = self.stdout.isatty()
        try:
            run = sync_wix(
                kind=kind,
                on_progress=self.draw_bar if show_bar else None,
                allow_mass_delete=allow_mass_delete,
            )
        except (SyncAlreadyRunning, SyncFailed, WixConfigurationError) as error:
            raise CommandError(str(error)) from None
        finally:
            if show_bar:
                self.stdout.write("")
        if run.status == SyncRun.Status.WAITING:
            raise CommandError(run.error)
        self.stdout.write(self.style.SUCCESS(summary(run)))

    def draw_bar(self, run: SyncRun) -> None:
        width = max(10, min(40, shutil.get_terminal_size().columns - 40))
        total = run.contacts_total or run.contacts_seen or 1
        done = min(run.contacts_seen, total)
        filled = width * done // total
        bar = "#" * filled + "." * (width - filled)
        self.stdout.write(
            f"\r[{bar}] {100 * done // total:3d}% {done:,}/{total:,} contacts", ending=""
        )
        self.stdout.flush()
