"""The sync service: make the cache equal to Wix (labels first, then contacts).

A run is a `SyncRun` row. Contacts are walked by created date, keyset-style, so that contacts
created or deleted in Wix during the run lose nothing; every page is written in one transaction
together with the run's checkpoint, so a killed run resumes from its last page. Full runs also
reconcile deletions page by page: a cached contact whose created date falls inside the span a
page covers, but which the page does not hold, is gone from Wix.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from journal.models import Operation
from journal.services import operation_done, operation_failed, operation_plan
from labels.history import labels_log_wix_changes
from labelsite.processes import process_running, this_process
from labelsite.wix import WixClient, WixError, WixNotFound
from labelsite.wix.records import ContactWalkPage, wix_datetime
from sync.models import SyncDeletion, SyncRun
from wixcache.budget import site_client
from wixcache.models import Contact, ContactLabel, Label
from wixcache.store import (
    LabelsReplaced,
    contacts_delete,
    contacts_store,
    labels_gone_mark,
    labels_replace,
)

logger = logging.getLogger(__name__)

ANALYZE_AFTER_PAGES = frozenset({1, 4, 16, 64, 256, 1024})


def _statistics_behind(run: SyncRun) -> bool:
    """Whether this run has created more contacts than PostgreSQL's statistics say the cache
    holds: it is filling up faster than they follow. A run that mostly updates (an incremental
    sync, a full one over a full cache) leaves them to autovacuum; analyzing would cost it more
    than its page did (a quarter of a second at 100k contacts)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Contact._meta.db_table]
        )
        (believed,) = cursor.fetchone()
    return run.contacts_created > max(believed, 0)


class SyncAlreadyRunning(Exception):
    def __init__(self, run: SyncRun | None) -> None:
        self.run = run
        since = f" (#{run.pk}, started {run.started_at:%Y-%m-%d %H:%M:%S} UTC)" if run else ""
        super().__init__(f"Another sync is already running{since}. Wait for it to finish.")


class SyncFailed(Exception):
    """A run ended with an error; the message is written for people."""


# --- Labels ---------------------------------------------------------------------------------


def labels_pull(*, client: WixClient) -> LabelsReplaced:
    """Make the cached labels equal to Wix's, with a history entry for each change.

    A cached label the walk did not meet is deleted only once Wix confirms it is gone (its GET
    answers 404): a label deleted in Wix during the walk shifts the pages, and another label
    can slip past unseen. The cache moves during the walk too: a label deleted here meanwhile
    (after the walk listed it) is not brought back, and one cached meanwhile is not deleted.
    """
    mark = labels_gone_mark()
    labels = {label.key: label for label in client.iter_labels()}
    gone = []
    for key in Label.objects.exclude(key__in=list(labels)).values_list("key", flat=True):
        try:
            labels[key] = client.get_label(key)
        except WixNotFound:  # confirmed gone
            gone.append(key)
    with transaction.atomic():
        result = labels_replace(labels.values(), gone_after=mark, gone=gone)
        labels_log_wix_changes(result)
    return result


# --- Contacts ---------------------------------------------------------------------------------


def prefetched[T](pages: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Fetch the next page on a thread while the caller writes the last one."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                if stop.is_set():
                    return
                buffer.put(page)
        except BaseException as error:  # handed to the consumer, which re-raises it
            buffer.put(error)
        buffer.put(done)

    thread = threading.Thread(target=produce, name="sync-prefetch", daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full buffer
            with contextlib.suppress(queue.Empty):
                buffer.get(timeout=0.1)


def contacts_missing(page: ContactWalkPage) -> list[tuple[int, str]]:
    """(pk, wix id) of cached contacts inside the page's span of created dates that the page does
    not hold: gone from Wix, or missed by the walk. Only a second look tells which."""
    span = Contact.objects.all()
    if page.lo is not None:
        span = span.filter(remote_created_at__gte=page.lo)
    if not page.last:
        if page.hi == page.lo:
            return []
        span = span.filter(remote_created_at__lt=page.hi)
    keep = {c.id for c in page.contacts} | page.lo_ids | {c.id for c in page.set_aside}
    # The span holds about a page of contacts, read from the created-date index alone: taking
    # the page's ids out here costs less than sending them to the database to exclude.
    return [(pk, wix_id) for pk, wix_id in span.values_list("pk", "wix_id") if wix_id not in keep]


def contacts_confirm_gone(run: SyncRun, missing: list[tuple[int, str]], client: WixClient) -> int:
    """Look again at contacts a full run did not meet: those Wix still has are stored (the walk
    missed them), those it has not are noted for deletion at the end of the run. Never deletes."""
    if not missing:
        return 0
    found = client.find_contacts(wix_id for _, wix_id in missing)
    readable = [contact for contact in found.values() if contact is not None]
    if readable:
        contacts_store(readable)
    gone = [SyncDeletion(run=run, contact_id=pk) for pk, wix_id in missing if wix_id not in found]
    SyncDeletion.objects.bulk_create(gone, ignore_conflicts=True)
    return len(gone)


NOTES_KEPT = 50  # notes kept on a run for people to read; set-aside contacts are all counted


def _record_set_aside(run: SyncRun, unread) -> None:
    """Contacts Wix sent that the cache cannot read: counted and named on the run, never
    deleted on their account, and the run goes on."""
    known = {entry["id"] for entry in run.notes}
    for contact in unread:
        if contact.id not in known:  # else met again at the edge of the next page
            known.add(contact.id)
            run.contacts_set_aside += 1
            _note(run, contact.id, f"set aside: {contact.reason}")


def _note(run: SyncRun, wix_id: str, reason: str) -> None:
    if len(run.notes) < NOTES_KEPT:
        run.notes.append({"id": wix_id, "reason": reason[:300]})


def mass_delete_limit(cached: int) -> int:
    """The most contacts a full run may delete without a person's confirmation."""
    return max(settings.SYNC_MASS_DELETE_MIN, int(cached * settings.SYNC_MASS_DELETE_SHARE))


def _delete_confirmed(run: SyncRun) -> str:
    """Delete what the run found gone, unless it is too much: then wait for a person."""
    pending = list(run.deletions.values_list("contact_id", flat=True))
    cached = Contact.objects.count()
    allowed = run.checkpoint.get("allow_mass_delete")
    limit = mass_delete_limit(cached)
    if isinstance(allowed, int):
        limit = max(limit, allowed)
    if len(pending) > limit and allowed != "any":
        share = 100 * len(pending) / cached if cached else 100
        return (
            f"This full sync would delete {len(pending):,} of the {cached:,} cached contacts "
            f"({share:.0f}%), because Wix no longer has them. Nothing was deleted. If that is "
            "right, confirm it (“Delete them” on this page, or `manage.py sync_wix --full "
            "--allow-mass-delete`); otherwise check the Wix site first."
        )
    with transaction.atomic():
        run.contacts_deleted += contacts_delete(pending)
        run.deletions.all().delete()
        _save_progress(run, "contacts_deleted")
    return ""


# --- Runs -------------------------------------------------------------------------------------


def _is_abandoned(run: SyncRun) -> bool:
    """A run is abandoned when its process is gone (same host) or its heartbeat went stale."""
    if process_running(run.checkpoint.get("worker") or "") is False:
        return True
    stale_after = timedelta(seconds=settings.SYNC_STALE_AFTER_SECONDS)
    return run.heartbeat_at < timezone.now() - stale_after


def sync_run_start(
    *, kind: str, requested_by=None, claim: bool = True, allow_mass_delete: bool | int = False
) -> SyncRun:
    """Create the run row, refusing while another live run exists. An abandoned run of the same
    kind is marked interrupted and its checkpoint carried over, so the new run resumes it.
    `claim=False` when the background worker will run it: no process owns it until then."""
    with transaction.atomic():
        active = SyncRun.objects.select_for_update().filter(status=SyncRun.Status.RUNNING).first()
        resumed_from = None
        if active is not None:
            if not _is_abandoned(active):
                raise SyncAlreadyRunning(active)
            active.status = SyncRun.Status.INTERRUPTED
            active.finished_at = timezone.now()
            active.error = "The process running this sync stopped before it finished."
            active.save(update_fields=["status", "finished_at", "error"])
            if active.kind == kind:
                resumed_from = active
        checkpoint = dict(resumed_from.checkpoint) if resumed_from else {}
        checkpoint["worker"] = this_process() if claim else ""
        if allow_mass_delete:
            # True (the command line): any number; a number (the button): as many as the person
            # was shown, so that a page left open long ago cannot approve a larger loss.
            checkpoint["allow_mass_delete"] = (
                "any" if allow_mass_delete is True else int(allow_mass_delete)
            )
        try:
            with transaction.atomic():
                run = SyncRun.objects.create(
                    kind=kind,
                    requested_by=requested_by,
                    resumed_from=resumed_from,
                    checkpoint=checkpoint,
                    watermark=resumed_from.watermark if resumed_from else timezone.now(),
                    contacts_seen=resumed_from.contacts_seen if resumed_from else 0,
                )
        except IntegrityError:
            raise SyncAlreadyRunning(None) from None
        if resumed_from is not None:  # what it found gone is this run's to delete now
            resumed_from.deletions.update(run=run)
        return run


def last_watermark() -> datetime | None:
    run = (
        SyncRun.objects.filter(
            status=SyncRun.Status.SUCCEEDED,
            kind__in=[SyncRun.Kind.FULL, SyncRun.Kind.INCREMENTAL],
        )
        .exclude(watermark=None)
        .order_by("-watermark")
        .first()
    )
    return run.watermark if run else None


def _save_progress(run: SyncRun, *fields: str) -> None:
    run.heartbeat_at = timezone.now()
    run.save(update_fields=["heartbeat_at", *fields])


def _record_labels(run: SyncRun, pulled: LabelsReplaced) -> None:
    run.labels_created += len(pulled.created)
    run.labels_updated += len(pulled.updated)
    run.labels_deleted += len(pulled.deleted)


def sync_run_execute(
    run: SyncRun,
    *,
    client: WixClient,
    on_progress: Callable[[SyncRun], None] | None = None,
) -> SyncRun:
    """Carry a run to its end. Raises SyncFailed (run marked failed) on errors Wix reports."""
    run.checkpoint["worker"] = this_process()
    requests_before = client.request_count
    try:
        pulled = labels_pull(client=client)
        _record_labels(run, pulled)
        run.requests = client.request_count - requests_before
        _save_progress(
            run, "labels_created", "labels_updated", "labels_deleted", "requests", "checkpoint"
        )
        if run.kind != SyncRun.Kind.LABELS:
            _sync_contacts(
                run,
                client=client,
                label_ids=pulled.ids_by_key,
                requests_before=requests_before,
                on_progress=on_progress,
            )
        waiting = _delete_confirmed(run)
    except WixError as error:
        _finish(run, SyncRun.Status.FAILED, error=str(error))
        raise SyncFailed(str(error)) from error
    except DatabaseError as error:
        # A conflict with a change made meanwhile (the page was rolled back): a plain failure
        # that the next run repairs, not a crash.
        logger.warning("Sync run %s stopped by a database conflict: %s", run.pk, error)
        message = "The cache changed while this sync ran; nothing is lost. Run the sync again."
        _finish(run, SyncRun.Status.FAILED, error=message)
        raise SyncFailed(message) from error
    except Exception as error:
        logger.exception("Sync run %s failed", run.pk)
        _finish(
            run,
            SyncRun.Status.FAILED,
            error=f"Unexpected error: {type(error).__name__}. See the server log.",
        )
        raise
    if waiting:
        _finish(run, SyncRun.Status.WAITING, error=waiting)
        return run
    _finish(run, SyncRun.Status.SUCCEEDED)
    return run


def _sync_contacts(
    run: SyncRun,
    *,
    client: WixClient,
    label_ids: dict[str, int],
    requests_before: int,
    on_progress: Callable[[SyncRun], None] | None,
) -> None:
    full = run.kind == SyncRun.Kind.FULL
    base_filter = None
    if not full:
        since = last_watermark()
        if since is None:
            full = True  # no earlier run to be incremental to
        else:
            margin = timedelta(seconds=settings.SYNC_WATERMARK_MARGIN_SECONDS)
            base_filter = {"updatedDate": {"$gte": wix_datetime(since - margin)}}
    lo = run.checkpoint.get("lo")
    after = datetime.fromisoformat(lo) if lo else None
    seen_before = run.contacts_seen
    pages = client.walk_contacts(
        filter=base_filter,
        after=after,
        after_ids=frozenset(run.checkpoint.get("lo_ids", ())),
        page_size=settings.SYNC_PAGE_SIZE,
    )
    not_in_wix: set[str] = set()  # keys on contacts that a fresh pull did not find either
    for page in prefetched(pages):
        page_keys = {key for contact in page.contacts for key in contact.label_keys}
        if page_keys - label_ids.keys() - not_in_wix:
            # A label was created in Wix after we pulled labels: pull them again first.
            pulled = labels_pull(client=client)
            _record_labels(run, pulled)
            label_ids = pulled.ids_by_key
            not_in_wix |= page_keys - label_ids.keys()
        missing = contacts_missing(page) if full else []
        if missing:
            contacts_confirm_gone(run, missing, client)
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # Losing the last pages in a crash only means resuming from an older checkpoint
                # (writes are idempotent upserts), so pages need not wait for the WAL flush.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            written = contacts_store(page.contacts)
            _record_set_aside(run, page.set_aside)
            for wix_id, cut in written.clipped.items():
                _note(run, wix_id, "; ".join(cut))
            run.contacts_created += written.created
            run.contacts_updated += written.updated
            run.contacts_seen += len(page.contacts)
            if page.total is not None and page.lo == after:
                run.contacts_total = seen_before + page.total
            run.pages += 1
            run.requests = client.request_count - requests_before
            if page.hi is not None:
                run.checkpoint.update(lo=wix_datetime(page.hi), lo_ids=sorted(page.next_lo_ids))
            _save_progress(
                run,
                "contacts_created",
                "contacts_updated",
                "contacts_deleted",
                "contacts_seen",
                "contacts_total",
                "pages",
                "requests",
                "checkpoint",
                "labels_created",
                "labels_updated",
                "labels_deleted",
                "contacts_set_aside",
                "notes",
            )
        if run.pages in ANALYZE_AFTER_PAGES and _statistics_behind(run):
            # A cache filling up fast outruns autovacuum's statistics, and a planner that
            # believes the tables empty picks sequential scans: refresh them as the cache grows.
            with connection.cursor() as cursor:
                cursor.execute(
                    "ANALYZE {}, {}".format(
                        *(
                            connection.ops.quote_name(m._meta.db_table)
                            for m in (Contact, ContactLabel)
                        )
                    )
                )
        if on_progress:
            on_progress(run)


def _finish(run: SyncRun, status: str, *, error: str = "") -> None:
    run.status = status
    run.error = error
    run.finished_at = timezone.now()
    if status == SyncRun.Status.SUCCEEDED:
        run.contacts_total = run.contacts_seen
    with transaction.atomic():
        _save_progress(run, "status", "error", "finished_at", "contacts_total")
        _journal(run)


def _journal(run: SyncRun) -> None:
    """The run's changes, summarised in the journal (a sync reads Wix; it changes only the
    cache, so it is written when it ends)."""
    counts = [
        (run.labels_created, "labels found"),
        (run.labels_updated, "labels changed"),
        (run.labels_deleted, "labels deleted"),
        (run.contacts_created, "contacts found"),
        (run.contacts_updated, "contacts changed"),
        (run.contacts_deleted, "contacts deleted"),
    ]
    changed = ", ".join(f"{n:,} {what}" for n, what in counts if n) or "nothing changed"
    op = operation_plan(
        kind=Operation.Kind.SYNC,
        user=run.requested_by,
        summary=f"{run.get_kind_display()} sync #{run.pk}: {changed}",
        args={"run": run.pk},
        state=Operation.State.DONE,
    )
    if run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.WAITING):
        operation_done(op, outcome=run.error or "Finished.")
    else:
        operation_failed(op, run.error or run.get_status_display())


def sync_wix(
    *,
    kind: str = SyncRun.Kind.INCREMENTAL,
    requested_by=None,
    client: WixClient | None = None,
    on_progress: Callable[[SyncRun], None] | None = None,
    allow_mass_delete: bool | int = False,
) -> SyncRun:
    """Start and run a sync in this process (the command line and the background task use it)."""
    run = sync_run_start(kind=kind, requested_by=requested_by, allow_mass_delete=allow_mass_delete)
    own_client = client is None
    client = client or site_client(interactive=False)
    try:
        return sync_run_execute(run, client=client, on_progress=on_progress)
    finally:
        if own_client:
            client.close()
