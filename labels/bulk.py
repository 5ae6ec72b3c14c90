"""Label changes on many contacts: Wix's bulk add/remove-labels job, run as a background task.

`labels.tasks.label_job_start` fixes the contacts and queues the work; the worker calls
`label_job_execute`, which sends the contacts to Wix in chunks (one Wix bulk job per chunk, so
progress is visible and a restarted worker carries on from the last finished chunk), follows each
Wix job to the end, and only then changes the cache for that chunk. A chunk of one contact that
only adds or only removes goes through Wix's Label Contact or Unlabel Contact instead: one
request, no job to follow. Failures are counted and kept for the person to see.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence

from django.conf import settings
from django.contrib.admin.models import CHANGE, DELETION
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from journal.models import Operation
from journal.references import label_names_known
from journal.services import operation_jobs_finished
from labels.history import contacts_counted, label_log_many
from labels.models import LabelDeletion, LabelJob
from labelsite.processes import this_process
from labelsite.wix import WixClient, WixError, WixNotFound
from labelsite.wix.records import BulkJob, BulkJobError, WixContact
from wixcache.models import Contact, Label
from wixcache.store import (
    contacts_store,
    label_ids_locked,
    labels_delete,
    memberships_add,
    memberships_remove,
    memberships_write_lock,
)

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1000  # contact ids per Wix bulk job; keeps each request body small
POLL_SECONDS = 0.25
POLL_MAX_SECONDS = 2.0


class WixJobStuck(Exception):
    def __init__(self, wix_job: BulkJob, waited: float) -> None:
        self.wix_job = wix_job
        super().__init__(
            f"Wix has not finished its bulk job after {waited / 60:.0f} minutes "
            f"(it says {wix_job.status or 'nothing'}). Nothing more was sent; use “Look again” "
            "later, or run a sync to see what Wix has."
        )


def _apply_to_cache(job: LabelJob, wix_ids: list[str]) -> None:
    # Labels locked first (before any membership write), so that a label being deleted
    # meanwhile either goes first (and gets no memberships) or waits for this chunk.
    label_pks = label_ids_locked([*job.add_keys, *job.remove_keys])
    contact_pks = list(Contact.objects.filter(wix_id__in=wix_ids).values_list("pk", flat=True))
    if job.remove_keys:
        remove = [pk for key, pk in label_pks.items() if key in job.remove_keys]
        memberships_remove(contact_pks=contact_pks, label_pks=remove)
    if job.add_keys:
        add = [pk for key, pk in label_pks.items() if key in job.add_keys]
        memberships_add(contact_pks=contact_pks, label_pks=add)


def _follow_wix_job(
    job: LabelJob,
    wix_job_id: str,
    *,
    client: WixClient,
    done_before: int,
    sleep: Callable,
    clock: Callable[[], float],
) -> BulkJob:
    """Poll Wix until its job completes, copying its progress into ours as it goes; raise
    WixJobStuck once LABEL_JOB_DEADLINE_SECONDS pass without an end."""
    pause = POLL_SECONDS
    started = clock()
    while True:
        wix_job = client.get_bulk_job(wix_job_id)
        job.done = done_before + wix_job.success_total
        LabelJob.objects.filter(pk=job.pk).update(done=job.done, heartbeat_at=timezone.now())
        if wix_job.finished:
            return wix_job
        waited = clock() - started
        if waited >= settings.LABEL_JOB_DEADLINE_SECONDS:
            raise WixJobStuck(wix_job, waited)
        sleep(pause)
        pause = min(POLL_MAX_SECONDS, pause * 1.5)


def _one_contact(
    job: LabelJob, wix_id: str, *, client: WixClient
) -> tuple[BulkJob, WixContact | None]:
    """A job of one contact that only adds or only removes (a webhook's change, a single row):
    Wix's Label Contact or Unlabel Contact answers at once, one request, where a bulk job needs a
    poll as well (a job that does both stays a bulk job: two calls could leave it half done).
    Returns the answer put as a finished bulk job's, so that the chunk is recorded like any
    other, and the contact as Wix answered it, which the cache takes (not what was asked).
    Sent again after a crash, the call changes nothing more.

    A 404 may mean the contact or a label is gone, and Wix's error code for which is not
    documented: the contact is looked up. Gone, it fails that contact (the next sync shows it);
    there, a label is gone and the job fails as a bulk job would."""
    try:
        if job.add_keys:
            record = client.label_contact(wix_id, job.add_keys)
        else:
            record = client.unlabel_contact(wix_id, job.remove_keys)
    except WixNotFound:
        if client.find_contacts([wix_id]).get(wix_id) is not None:
            raise
        said = "Wix has no such contact any more; the next sync shows what it has."
        error = BulkJobError(id=wix_id, message=said)
        return BulkJob(status="COMPLETED", total_items=1, failed_total=1, errors=(error,)), None
    held = set(record.label_keys)
    if set(job.add_keys) <= held and not set(job.remove_keys) & held:
        return BulkJob(status="COMPLETED", total_items=1, success_total=1), record
    said = "Wix answered without the change; the contact is shown as Wix has it."
    error = BulkJobError(id=wix_id, message=said)
    return BulkJob(status="COMPLETED", total_items=1, failed_total=1, errors=(error,)), record


def _log(job: LabelJob, labels: Iterable[Label], action: int, message: str) -> None:
    if job.requested_by_id is not None:
        label_log_many(user_id=job.requested_by_id, labels=labels, action=action, message=message)


def _label_names(keys) -> dict[str, str]:
    return dict(Label.objects.filter(key__in=list(keys)).values_list("key", "display_name"))


def _finish(job: LabelJob, *, undeleted: Sequence[str] = (), why: str = "Wix failed") -> None:
    job.finished_at = timezone.now()
    if (job.failed or undeleted) and job.done:
        job.status = LabelJob.Status.PARTIAL
    elif (job.failed and job.total) or undeleted:
        job.status = LabelJob.Status.FAILED
    else:
        job.status = LabelJob.Status.SUCCEEDED
    keys = [*job.add_keys, *job.remove_keys, *undeleted]
    names = {**label_names_known(keys), **_label_names(keys)}

    def named(keys: list[str]) -> str:
        return ", ".join(f"“{names.get(key, key)}”" for key in keys)

    changed = ", ".join(
        part
        for part in (
            f"added {named(job.add_keys)}" if job.add_keys else "",
            f"removed {named(job.remove_keys)}" if job.remove_keys else "",
        )
        if part
    )
    job.outcome = (
        f"{job.done} of {contacts_counted(job.total)} changed ({changed or 'nothing to change'})."
    )
    if job.failed:
        job.outcome += f" {job.failed} failed; see the errors below."
    if undeleted:
        job.outcome += f" Not deleted, because {why}: {named(list(undeleted))}."
    with transaction.atomic():
        job.save()
        touched = Label.objects.filter(key__in=[*job.add_keys, *job.remove_keys])
        _log(job, touched, CHANGE, f"{job.description}: {job.outcome}")
        if job.operation_id is not None:
            siblings = LabelJob.objects.filter(operation_id=job.operation_id).only(
                "status", "done", "total", "outcome"
            )
            operation_jobs_finished(job.operation_id, list(siblings))


def label_job_execute(
    job: LabelJob,
    *,
    client: WixClient,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> LabelJob:
    """Carry a job to its end. Wix errors end it as failed, with the reason in plain words.

    A chunk whose Wix job was already started (a restarted worker, "Look again" on a stuck job)
    follows that Wix job rather than sending the chunk again.
    """
    if not job.is_active:
        return job
    # Claimed, not just marked: only if it is still as this caller read it. A job queued twice
    # (revived while its first task was on its way) runs once; the later task finds it taken.
    now = timezone.now()
    claimed = LabelJob.objects.filter(pk=job.pk, status=job.status, process=job.process).update(
        status=LabelJob.Status.RUNNING,
        started_at=Coalesce("started_at", Value(now)),
        process=this_process(),
        heartbeat_at=now,
    )
    if not claimed:
        job.refresh_from_db()
        return job
    job.refresh_from_db(fields=["status", "started_at", "process", "heartbeat_at"])
    if job.operation_id is not None:
        Operation.objects.filter(pk=job.operation_id, state=Operation.State.PLANNED).update(
            state=Operation.State.SENT, updated_at=timezone.now()
        )
    try:
        for index in range(job.chunks_finished, -(-job.total // CHUNK_SIZE)):
            chunk = job.contact_ids[index * CHUNK_SIZE : (index + 1) * CHUNK_SIZE]
            done_before = job.done
            one_way = not (job.add_keys and job.remove_keys)
            if len(chunk) == 1 and len(job.wix_job_ids) <= index and one_way:
                wix_job, record = _one_contact(job, chunk[0], client=client)
                _chunk_finished(job, index, chunk, wix_job, done_before, record=record)
                continue
            if len(job.wix_job_ids) > index:
                wix_job_id = job.wix_job_ids[index]
            else:
                wix_job_id = client.bulk_add_remove_labels(
                    filter={"id": {"$in": chunk}}, add=job.add_keys, remove=job.remove_keys
                )
                job.wix_job_ids.append(wix_job_id)
                LabelJob.objects.filter(pk=job.pk).update(wix_job_ids=job.wix_job_ids)
            wix_job = _follow_wix_job(
                job, wix_job_id, client=client, done_before=done_before, sleep=sleep, clock=clock
            )
            _chunk_finished(job, index, chunk, wix_job, done_before)
        if job.failed and job.delete_keys_after:
            # Never delete a merged label while some of its contacts lack the target.
            _keep_sources(job)
        else:
            for key in job.delete_keys_after:
                _delete_label_after(job, key, client=client)
    except WixJobStuck as stuck:
        job.status = LabelJob.Status.STUCK
        job.outcome = str(stuck)
        job.save(update_fields=["status", "outcome"])
        return job
    except WixError as error:
        job.errors.append({"message": str(error)})
        job.failed = job.total - job.done
        # Every contact may be done and a merged-away label still not deleted: not a success.
        undeleted = [k for k in job.delete_keys_after if Label.objects.filter(key=k).exists()]
        with transaction.atomic():
            _sources_kept(job, undeleted)
            _finish(job, undeleted=undeleted)
        return job
    except Exception:
        # Not Wix: the cache could not follow (e.g. a database conflict). Never leave the job
        # "running" for ever; Wix may have changed, and the next sync brings that here.
        logger.exception("Label job %s stopped", job.pk)
        job.refresh_from_db(fields=["done", "chunks_finished", "wix_job_ids"])
        job.errors.append(
            {"message": "The cache could not be updated; the next sync shows Wix's labels."}
        )
        job.failed = job.total - job.done
        _finish(job)
        raise
    if job.status != LabelJob.Status.RUNNING:
        return job  # _keep_sources finished it
    _finish(job)
    return job


def _chunk_finished(
    job: LabelJob,
    index: int,
    chunk: list[str],
    wix_job: BulkJob,
    done_before: int,
    *,
    record: WixContact | None = None,
) -> None:
    """Record Wix's answer for one chunk and make the cache follow what Wix changed (`record`:
    the chunk's one contact as Wix answered it, stored as it is)."""
    failed = wix_job.failed_total
    failed_ids = set(wix_job.failed_ids) & set(chunk)
    unaccounted = len(chunk) - wix_job.success_total - failed
    with transaction.atomic():
        if failed:
            job.errors.extend({"message": m} for m in wix_job.error_messages)
            job.errors.append({"message": f"Wix could not change {contacts_counted(failed)}."})
            job.failed_contact_ids.extend(sorted(failed_ids))
        if unaccounted > 0:
            # Wix counted fewer contacts than it was sent: which ones it skipped is unknown.
            said = f"Wix said nothing about {contacts_counted(unaccounted)}; a sync shows them."
            job.errors.append({"message": said})
            failed += unaccounted
        if record is not None:
            contacts_store([record], again=True)  # a revision already here: Wix's answer wins
        elif len(failed_ids) == failed:
            _apply_to_cache(job, [wix_id for wix_id in chunk if wix_id not in failed_ids])
        # else Wix did not say which contacts failed: the next sync brings the truth.
        job.failed += failed
        job.done = done_before + wix_job.success_total
        job.chunks_finished = index + 1
        job.heartbeat_at = timezone.now()
        job.save(
            update_fields=[
                "failed",
                "done",
                "chunks_finished",
                "errors",
                "failed_contact_ids",
                "heartbeat_at",
            ]
        )


def _keep_sources(job: LabelJob) -> None:
    """A merge with failed contacts: the merged labels stay (nothing to restore), and the job
    says which contacts failed so that the person can retry them. Undo then only takes the
    target from the contacts that gained it."""
    with transaction.atomic():
        _sources_kept(job, job.delete_keys_after)
        _finish(
            job,
            undeleted=job.delete_keys_after,
            why=(
                f"{contacts_counted(job.failed)} did not get the target; "
                "retry them, then merge again"
            ),
        )


def _sources_kept(job: LabelJob, keys: list[str]) -> None:
    """Merged labels that were not deleted (and are still there) have nothing to restore: their
    undo records go, and the merge's undo keeps only what did happen."""
    if not keys:
        return
    kept = LabelDeletion.objects.filter(merge_job=job, key__in=keys)
    kept_ids = set(kept.values_list("pk", flat=True))
    kept.delete()
    if job.operation_id is None:
        return
    op = Operation.objects.select_for_update().get(pk=job.operation_id)
    failed = set(job.failed_contact_ids)
    reverse = []
    for step in op.reverse:
        if step["type"] == "restore" and step["deletion"] in kept_ids:
            continue
        if step["type"] == "labels":
            step = {**step, "contacts": [c for c in step["contacts"] if c not in failed]}
        reverse.append(step)
    op.reverse = reverse
    op.save(update_fields=["reverse"])


def _delete_label_after(job: LabelJob, key: str, *, client: WixClient) -> None:
    with contextlib.suppress(WixNotFound):  # already gone in Wix: make the cache agree
        client.delete_label(key)
    with transaction.atomic():
        # Locked before its memberships go, so that no sync or job adds one meanwhile; the
        # memberships lock first, as everywhere.
        memberships_write_lock()
        label = Label.objects.select_for_update().filter(key=key).first()
        if label is not None:
            _log(job, [label], DELETION, f"Deleted after merge ({job.description}).")
            labels_delete([label.pk])
