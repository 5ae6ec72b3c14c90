"""The sync service: make the cache equal to Wix (labels first, then contacts).

A run is a `SyncRun` row. Contacts are walked by created date, keyset-style, so that contacts
created or deleted in Wix during the run lose nothing; every page is written in one transaction
together with the run's checkpoint, so a killed run resumes from its last page. Full runs also
reconcile deletions page by page: a cached contact whose created date falls inside the span a
page covers, but which the page does not hold, is gone from Wix.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from contacts.models import Contact, ContactLabel, SyncRun
from labels.models import Label
from labels.sync import LabelPullResult, labels_pull, parse_wix_datetime
from labelsite.wix import WixClient, WixError

logger = logging.getLogger(__name__)

PAGE_SIZE = 1000
DELETE_BATCH = 10_000  # under SQLite's limit of bound parameters per statement
ANALYZE_AFTER_PAGES = frozenset({1, 4, 16, 64, 256, 1024})
ROWS_PER_STATEMENT = 30_000  # bound parameters per INSERT, under SQLite's and PostgreSQL's limits
CONTACT_FIELDS = (
    "revision",
    "first_name",
    "last_name",
    "email",
    "phone",
    "remote_created_at",
    "remote_updated_at",
)


class SyncAlreadyRunning(Exception):
    def __init__(self, run: SyncRun | None) -> None:
        self.run = run
        since = f" (#{run.pk}, started {run.started_at:%Y-%m-%d %H:%M:%S} UTC)" if run else ""
        super().__init__(f"Another sync is already running{since}. Wait for it to finish.")


class SyncFailed(Exception):
    """A run ended with an error; the message is written for people."""


# --- Walking Wix's contacts -------------------------------------------------------------------


@dataclass
class ContactPage:
    """One page of the walk and the span of created dates it vouches for.

    Every contact Wix had with `lo <= createdDate < hi` (or `>= lo` on the last page) is in
    `contacts` or was in the page before at exactly `lo` (`lo_ids`).
    """

    contacts: list[dict]
    lo: str | None
    hi: str | None
    lo_ids: frozenset[str]
    next_lo_ids: frozenset[str]
    remaining: int | None
    last: bool


def contact_pages(
    client: WixClient,
    *,
    base_filter: dict | None = None,
    lo: str | None = None,
    lo_ids: frozenset[str] = frozenset(),
    page_size: int = PAGE_SIZE,
) -> Iterator[ContactPage]:
    """Walk contacts in created-date order from `lo`, skipping `lo_ids` already taken there."""
    offset = 0
    while True:
        query_filter = dict(base_filter or {})
        if lo is not None:
            query_filter = (
                {"$and": [query_filter, {"createdDate": {"$gte": lo}}]}
                if query_filter
                else {"createdDate": {"$gte": lo}}
            )
        response = client.query_contacts(
            filter=query_filter or None,
            sort=[{"fieldName": "createdDate", "order": "ASC"}],
            limit=page_size,
            offset=offset,
            fieldsets=["FULL"],
        )
        raw = response.get("contacts", [])
        remaining = response.get("pagingMetadata", {}).get("total")
        last = len(raw) < page_size
        fresh = [c for c in raw if c["id"] not in lo_ids]
        if not raw:
            yield ContactPage([], lo, None, lo_ids, frozenset(), remaining, last=True)
            return
        hi = raw[-1]["createdDate"]
        if lo is not None and parse_wix_datetime(hi) == parse_wix_datetime(lo):
            # More contacts share one instant than a page holds: page by offset inside it.
            offset += len(raw)
            lo_ids = lo_ids | {c["id"] for c in raw}
            yield ContactPage(fresh, lo, lo, lo_ids, lo_ids, remaining, last)
        else:
            hi_at = parse_wix_datetime(hi)
            next_lo_ids = frozenset(
                c["id"] for c in raw if parse_wix_datetime(c["createdDate"]) == hi_at
            )
            yield ContactPage(fresh, lo, hi, lo_ids, next_lo_ids, remaining, last)
            lo, lo_ids, offset = hi, next_lo_ids, 0
        if last:
            return


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


# --- Writing a page ---------------------------------------------------------------------------


@dataclass
class PageResult:
    created: int = 0
    updated: int = 0


def _contact_values(data: dict) -> tuple:
    """The cached fields of a Wix contact, in CONTACT_FIELDS order."""
    info = data.get("info") or {}
    name = info.get("name") or {}
    primary = data.get("primaryInfo") or {}
    return (
        data.get("revision") or 0,
        name.get("first") or "",
        name.get("last") or "",
        primary.get("email") or "",
        primary.get("phone") or "",
        parse_wix_datetime(data["createdDate"]),
        parse_wix_datetime(data.get("updatedDate") or data["createdDate"]),
    )


def _label_keys(contacts: list[dict]) -> set[str]:
    return {
        key
        for data in contacts
        for key in (data.get("info") or {}).get("labelKeys", {}).get("items") or ()
    }


def _rows_source(rows: list[tuple], pg_types: tuple[str, ...]) -> Iterator[tuple[str, list]]:
    """SQL that yields `rows` as a relation, with its parameters, in as few statements as the
    database allows. PostgreSQL gets one JSON document (a single parameter, encoded and parsed
    in C on both sides: binding thousands of values, or text arrays, costs far more in Python);
    SQLite gets `VALUES` lists, batched under its bound-parameter limit."""
    if connection.vendor == "postgresql":
        columns = ", ".join(f"(r ->> {n})::{pg_type}" for n, pg_type in enumerate(pg_types))
        yield (
            f"SELECT {columns} FROM json_array_elements(%s::json) AS r",
            [json.dumps(rows, default=datetime.isoformat)],
        )
        return
    row_sql = "(" + ", ".join(["%s"] * len(pg_types)) + ")"
    for batch in itertools.batched(rows, ROWS_PER_STATEMENT // len(pg_types)):
        yield f"VALUES {', '.join([row_sql] * len(batch))}", [v for row in batch for v in row]


def _existing_contacts(wix_ids: list[str]) -> dict[str, tuple[int, int]]:
    """wix_id -> (pk, revision) of the cached contacts among `wix_ids`."""
    quote = connection.ops.quote_name
    found: dict[str, tuple[int, int]] = {}
    with connection.cursor() as cursor:
        for source, params in _rows_source([(wix_id,) for wix_id in wix_ids], ("text",)):
            cursor.execute(
                f"SELECT {quote('wix_id')}, {quote('id')}, {quote('revision')} "
                f"FROM {quote(Contact._meta.db_table)} WHERE {quote('wix_id')} IN ({source})",
                params,
            )
            found.update((wix_id, (pk, revision)) for wix_id, pk, revision in cursor.fetchall())
    return found


def _datetime_adapter() -> Callable[[datetime], object]:
    if connection.vendor == "sqlite":
        # What Django's SQLite backend stores (naive UTC text), without its per-value checks.
        return lambda value: str(value.astimezone(UTC).replace(tzinfo=None))
    return lambda value: value  # _rows_source writes ISO-8601 with the offset


CONTACT_PG_TYPES = ("text", "integer", "text", "text", "text", "text", "timestamptz", "timestamptz")


def _upsert_contacts(rows: list[tuple]) -> dict[str, int]:
    """INSERT .. ON CONFLICT (wix_id) DO UPDATE .. RETURNING, in one statement for a page.
    Django's bulk_create builds a model instance per row, which costs more than the database
    does here, and binds every value as a parameter."""
    quote = connection.ops.quote_name
    columns = [Contact._meta.get_field(name).column for name in ("wix_id", *CONTACT_FIELDS)]
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns[1:])
    pks: dict[str, int] = {}
    with connection.cursor() as cursor:
        for source, params in _rows_source(rows, CONTACT_PG_TYPES):
            cursor.execute(
                f"INSERT INTO {quote(Contact._meta.db_table)} ({', '.join(map(quote, columns))}) "
                f"{source} ON CONFLICT ({quote(columns[0])}) DO UPDATE SET {updates} "
                f"RETURNING {quote(Contact._meta.pk.column)}, {quote(columns[0])}",
                params,
            )
            pks.update((wix_id, pk) for pk, wix_id in cursor.fetchall())
    return pks


def _insert_memberships(pairs: list[tuple[int, int]]) -> None:
    quote = connection.ops.quote_name
    columns = ", ".join(
        quote(ContactLabel._meta.get_field(name).column) for name in ("contact", "label")
    )
    with connection.cursor() as cursor:
        for source, params in _rows_source(pairs, ("bigint", "bigint")):
            cursor.execute(
                f"INSERT INTO {quote(ContactLabel._meta.db_table)} ({columns}) {source}",
                params,
            )


def contacts_upsert_page(contacts: list[dict], *, label_ids: dict[str, int]) -> PageResult:
    """Write one page of Wix contacts: insert new ones, update changed ones, and bring label
    memberships to Wix's set by difference. A constant number of statements whatever the page."""
    result = PageResult()
    if not contacts:
        return result
    incoming = {data["id"]: data for data in contacts}
    existing = _existing_contacts(list(incoming))
    adapt = _datetime_adapter()
    wanted_keys: dict[str, set[str]] = {}
    rows: list[tuple] = []
    changed_pks: list[int] = []
    for wix_id, data in incoming.items():
        values = _contact_values(data)
        known = existing.get(wix_id)
        if known is not None and known[1] == values[0]:
            continue  # Wix bumps the revision on every change: same revision, same contact
        if known is None:
            result.created += 1
        else:
            result.updated += 1
            changed_pks.append(known[0])
        # A key still unknown belongs to a label deleted since: the contact no longer has it.
        wanted_keys[wix_id] = _label_keys([data]) & label_ids.keys()
        rows.append((wix_id, *values[:5], adapt(values[5]), adapt(values[6])))
    if not rows:
        return result
    pk_by_wix_id = _upsert_contacts(rows)

    current: dict[int, dict[int, int]] = {}
    if changed_pks:
        for membership_pk, contact_pk, label_pk in ContactLabel.objects.filter(
            contact_id__in=changed_pks
        ).values_list("pk", "contact_id", "label_id"):
            current.setdefault(contact_pk, {})[label_pk] = membership_pk
    to_add: list[tuple[int, int]] = []
    to_remove: list[int] = []
    for wix_id, keys in wanted_keys.items():
        contact_pk = pk_by_wix_id[wix_id]
        want = {label_ids[key] for key in keys}
        have = current.get(contact_pk, {})
        to_add.extend((contact_pk, label_pk) for label_pk in want - have.keys())
        to_remove.extend(
            membership_pk for label_pk, membership_pk in have.items() if label_pk not in want
        )
    if to_remove:
        ContactLabel.objects.filter(pk__in=to_remove).delete()
    if to_add:
        _insert_memberships(to_add)
    return result


def contacts_delete_missing(page: ContactPage) -> int:
    """Delete cached contacts inside the page's span that Wix no longer has."""
    span = Contact.objects.all()
    if page.lo is not None:
        span = span.filter(remote_created_at__gte=parse_wix_datetime(page.lo))
    if not page.last:
        if page.hi == page.lo:
            return 0
        span = span.filter(remote_created_at__lt=parse_wix_datetime(page.hi))
    keep = {c["id"] for c in page.contacts} | page.lo_ids
    gone = list(span.exclude(wix_id__in=keep).values_list("pk", flat=True))
    for start in range(0, len(gone), DELETE_BATCH):
        batch = gone[start : start + DELETE_BATCH]
        ContactLabel.objects.filter(contact_id__in=batch).delete()
        Contact.objects.filter(pk__in=batch).delete()
    return len(gone)


# --- Runs -------------------------------------------------------------------------------------


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _is_abandoned(run: SyncRun) -> bool:
    """A run is abandoned when its process is gone (same host) or its heartbeat went stale."""
    host, _, pid = (run.checkpoint.get("worker") or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    stale_after = timedelta(seconds=settings.SYNC_STALE_AFTER_SECONDS)
    return run.heartbeat_at < timezone.now() - stale_after


def sync_run_start(*, kind: str, requested_by=None, claim: bool = True) -> SyncRun:
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
        checkpoint["worker"] = _worker_name() if claim else ""
        try:
            with transaction.atomic():
                return SyncRun.objects.create(
                    kind=kind,
                    requested_by=requested_by,
                    resumed_from=resumed_from,
                    checkpoint=checkpoint,
                    watermark=resumed_from.watermark if resumed_from else timezone.now(),
                    contacts_seen=resumed_from.contacts_seen if resumed_from else 0,
                )
        except IntegrityError:
            raise SyncAlreadyRunning(None) from None


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


def _record_labels(run: SyncRun, pulled: LabelPullResult) -> None:
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
    run.checkpoint["worker"] = _worker_name()
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
            stamp = (since - margin).astimezone(UTC)
            base_filter = {
                "updatedDate": {
                    "$gte": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                }
            }
    lo = run.checkpoint.get("lo")
    lo_ids = frozenset(run.checkpoint.get("lo_ids", ()))
    seen_before = run.contacts_seen
    pages = contact_pages(
        client, base_filter=base_filter, lo=lo, lo_ids=lo_ids, page_size=settings.SYNC_PAGE_SIZE
    )
    not_in_wix: set[str] = set()  # keys on contacts that a fresh pull did not find either
    for page in prefetched(pages):
        page_keys = _label_keys(page.contacts)
        if page_keys - label_ids.keys() - not_in_wix:
            # A label was created in Wix after we pulled labels: pull them again first.
            pulled = labels_pull(client=client)
            _record_labels(run, pulled)
            label_ids = pulled.ids_by_key
            not_in_wix |= page_keys - label_ids.keys()
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # Losing the last pages in a crash only means resuming from an older checkpoint
                # (writes are idempotent upserts), so pages need not wait for the WAL flush.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            # A label deleted here since the pull must get no memberships: read the page's
            # labels again inside its transaction, locked, before writing anything.
            page_label_ids = dict(
                Label.objects.select_for_update()
                .filter(key__in=page_keys)
                .order_by("pk")
                .values_list("key", "pk")
            )
            written = contacts_upsert_page(page.contacts, label_ids=page_label_ids)
            if full:
                run.contacts_deleted += contacts_delete_missing(page)
            run.contacts_created += written.created
            run.contacts_updated += written.updated
            run.contacts_seen += len(page.contacts)
            if page.remaining is not None and (page.lo == lo):
                run.contacts_total = seen_before + page.remaining
            run.pages += 1
            run.requests = client.request_count - requests_before
            if page.hi is not None:
                run.checkpoint.update(lo=page.hi, lo_ids=sorted(page.next_lo_ids))
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
            )
        if connection.vendor == "postgresql" and run.pages in ANALYZE_AFTER_PAGES:
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
    _save_progress(run, "status", "error", "finished_at", "contacts_total")


def sync_wix(
    *,
    kind: str = SyncRun.Kind.INCREMENTAL,
    requested_by=None,
    client: WixClient | None = None,
    on_progress: Callable[[SyncRun], None] | None = None,
) -> SyncRun:
    """Start and run a sync in this process (the command line and the background task use it)."""
    run = sync_run_start(kind=kind, requested_by=requested_by)
    own_client = client is None
    client = client or WixClient.from_settings()
    try:
        return sync_run_execute(run, client=client, on_progress=on_progress)
    finally:
        if own_client:
            client.close()
