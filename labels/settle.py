"""After a crash: the label operations left between "planned" and "done" are settled against Wix
(see `journal.settle`), and bulk jobs whose worker died are picked up again."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from journal.models import Operation
from journal.services import operation_done, operation_failed, operation_jobs_finished
from journal.settle import process_gone, settler
from journal.undo import STEP_KINDS, undo_stopped
from labels.models import LabelDeletion, LabelJob
from labels.services import (
    forget_gone,
    label_created,
    label_deleted,
    label_renamed,
    label_restored,
    labels_swapped,
)
from labels.tasks import run_label_job
from labelsite.wix import WixClient, WixNotFound
from wixcache.models import Label, LabelGone
from wixcache.store import label_store, labels_gone_mark, memberships_write_lock

logger = logging.getLogger(__name__)
CLOCK_SKEW = timedelta(seconds=60)  # between Wix's clock and ours, when telling new from old

ACTIVE = (LabelJob.Status.QUEUED, LabelJob.Status.RUNNING)
UNFINISHED = (*ACTIVE, LabelJob.Status.STUCK)


def label_jobs_revive(*, client: WixClient) -> int:
    """Queue again every running job whose worker is gone; it follows the Wix jobs it started
    and sends only what it had not sent. And every queued job no task will run: a worker that
    died after taking its task, before starting it, left the task claimed and the job queued."""
    revived = _queued_jobs_revive()
    running = LabelJob.objects.filter(status=LabelJob.Status.RUNNING).only(
        "pk", "process", "heartbeat_at", "started_at"
    )
    for job in running:
        moved = job.heartbeat_at or job.started_at or timezone.now()
        if job.process and process_gone(job.process, moved, alive_wins=True):
            with transaction.atomic():
                if LabelJob.objects.filter(pk=job.pk, status=LabelJob.Status.RUNNING).update(
                    status=LabelJob.Status.QUEUED, process=""
                ):
                    run_label_job.enqueue(job.pk)
                    revived += 1
    return revived


CLAIM_GRACE = timedelta(seconds=30)  # a worker starts a job it took in milliseconds


def _queued_jobs_revive() -> int:
    """Queue a task again for each queued job whose task is neither waiting nor taken moments
    ago (taken long ago, by a worker that died before starting the job; or failed). A second
    task for a job is harmless: only one can claim it (`label_job_execute`)."""
    recent = timezone.now() - CLAIM_GRACE
    queued = set(
        LabelJob.objects.filter(status=LabelJob.Status.QUEUED).values_list("pk", flat=True)
    )
    if not queued:
        return 0
    tasks = DBTaskResult.objects.filter(
        task_path=run_label_job.module_path,
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
    ).values_list("status", "started_at", "args_kwargs")
    for status, started_at, args_kwargs in tasks:
        if status == TaskResultStatus.READY or (started_at and started_at > recent):
            queued.discard((args_kwargs.get("args") or [None])[0])
    for job_id in sorted(queued):
        logger.warning("Label job %s was queued with no task to run it; queued again.", job_id)
        run_label_job.enqueue(job_id)
    return len(queued)


def _jobs_settle(op: Operation) -> bool:
    """An operation carried by jobs ends with them; True when it has jobs."""
    jobs = list(LabelJob.objects.filter(operation=op).only("status", "done", "total", "outcome"))
    if not jobs:
        return False
    with transaction.atomic():
        operation_jobs_finished(op.pk, jobs)
    return True


def jobs_finished_check(op: Operation) -> None:
    _jobs_settle(op)


def _wix_label_named(client: WixClient, name: str, *, since) -> object | None:
    """The label called `name` in Wix that was made after `since`, if there is one."""
    page = client.query_labels(filter={"displayName": {"$eq": name}}, limit=10)
    for record in page.labels:
        if record.display_name == name and (
            record.created_date is None or record.created_date >= since - CLOCK_SKEW
        ):
            return record
    return None


@settler(Operation.Kind.LABEL_CREATE)
def label_create_settle(op: Operation, *, client: WixClient) -> None:
    page = client.query_labels(filter={"displayName": {"$eq": op.args["name"]}}, limit=10)
    record = next((r for r in page.labels if r.display_name == op.args["name"]), None)
    if record is None:
        operation_failed(op, "Wix has no label of that name: nothing was made.")
        return
    created = record.created_date is None or record.created_date >= op.created_at - CLOCK_SKEW
    with transaction.atomic():
        if _deleted_since(record.key):
            outcome = "Made in Wix, and deleted since." if created else "Deleted since."
            operation_done(op, outcome=outcome, args={**op.args, "key": record.key})
            return
        label_created(op, record, created=created, user=op.user)


def _deleted_since(key: str) -> bool:
    """Whether the label was deleted here after Wix answered the settling (call inside the
    transaction that would store it). Wix never reuses a key, so a deletion of this key means
    the label is gone for good, and storing what Wix said a moment ago would bring it back. The
    memberships lock orders this after any delete still writing."""
    memberships_write_lock()
    return (
        LabelDeletion.objects.filter(key=key).exists()
        or LabelGone.objects.filter(key=key).exists()  # deleted by a sync or a webhook
    )


@settler(Operation.Kind.LABEL_RENAME)
def label_rename_settle(op: Operation, *, client: WixClient) -> None:
    try:
        record = client.get_label(op.args["key"])
    except WixNotFound:
        label = Label.objects.filter(key=op.args["key"]).first()
        if label is not None:
            forget_gone(label)
        operation_failed(op, "The label was deleted in Wix meanwhile.")
        return
    with transaction.atomic():
        if _deleted_since(record.key):
            if record.display_name == op.args["to"]:
                operation_done(op, outcome="Renamed in Wix, and deleted since.")
            else:
                operation_failed(op, "The label was deleted meanwhile: nothing was renamed.")
            return
        if record.display_name == op.args["to"]:
            label_renamed(op, record, user=op.user)
            return
        label_store(record)
        operation_failed(op, "Wix did not rename it: nothing changed.")


@settler(Operation.Kind.LABEL_DELETE)
def label_delete_settle(op: Operation, *, client: WixClient) -> None:
    deletion = LabelDeletion.objects.filter(operation=op).first()
    if deletion is None:  # the crash came before the undo record: Wix was not asked
        operation_failed(op, "Nothing was deleted.")
        return
    mark = labels_gone_mark()
    try:
        record = client.get_label(deletion.key)
    except WixNotFound:
        label_deleted(op, deletion, user=op.user)
        return
    with transaction.atomic():
        label_store(record, gone_after=mark)  # not if deleted since, by a webhook or a sync
        deletion.delete()
        operation_failed(op, "Wix still has the label: nothing was deleted.")


@settler(Operation.Kind.LABEL_MERGE)
@settler(Operation.Kind.BULK_LABELS)
def label_jobs_settle(op: Operation, *, client: WixClient) -> None:
    if not _jobs_settle(op):
        # The job is written with the operation; none means the crash came first.
        operation_failed(op, "Nothing was sent to Wix.")


@settler(Operation.Kind.UNDO)
def undo_settle(op: Operation, *, client: WixClient) -> None:
    """An undo stopped by a crash (or by Wix not answering): the steps Wix carried out are
    finished here; if none was, it failed and the undone operation keeps its undo; if some
    were, the rest stay with the undone operation, to be undone again."""
    steps = op.args.get("steps", [])
    reverse: list[dict] = []
    done: list[dict] = []
    for step in steps:
        outcome = _step_settle(step, op=op, client=client)
        if outcome is None:
            break
        done.append(step)
        reverse = outcome + reverse
    if len(done) < len(steps):
        undo_stopped(op, done=done, left=steps[len(done) :], reverse=reverse)
        return
    with transaction.atomic():
        op.args = {**op.args, "steps_running": False}
        op.reverse = reverse
        Operation.objects.filter(pk=op.pk).update(reverse=reverse, args=op.args)
    if not _jobs_settle(op):  # with jobs, they end it once all have finished
        operation_done(op, reverse=reverse, outcome="Undone (finished after a restart).")


def _step_settle(step: dict, *, op: Operation, client: WixClient) -> list | None:
    return STEP_KINDS[step["type"]].settle(step, op=op, client=client)


def restore_settle(step: dict, *, op: Operation, client: WixClient) -> list | None:
    deletion = LabelDeletion.objects.get(pk=step["deletion"])
    if deletion.restored_at is None:
        record = _wix_label_named(client, deletion.display_name, since=op.created_at)
        if record is None:
            return None
        label_restored(op, deletion, record, user=op.user)
        deletion.refresh_from_db()
    return [{"type": "delete", "key": deletion.restored_key, "name": deletion.display_name}]


def delete_settle(step: dict, *, op: Operation, client: WixClient) -> list | None:
    deletion = LabelDeletion.objects.filter(operation=op, key=step["key"]).first()
    if deletion is None:  # not written: Wix was not asked (or the label was gone already)
        return None if Label.objects.filter(key=step["key"]).exists() else []
    mark = labels_gone_mark()
    try:
        record = client.get_label(step["key"])
    except WixNotFound:
        label_deleted(op, deletion, user=op.user, finish=False)
        return [{"type": "restore", "deletion": deletion.pk}]
    with transaction.atomic():
        label_store(record, gone_after=mark)
        deletion.delete()
    return None


def labels_settle(step: dict, *, op: Operation, client: WixClient) -> list | None:
    """A bulk step is done once its job is written (the job itself survives crashes)."""
    if "job" not in step:
        return None
    if step["job"] is None:
        return []  # nothing was left to take away
    return [labels_swapped(step)]


def label_jobs_key_replace(sender, *, old_key: str, new_key: str, **kwargs) -> None:
    """A label came back under a new key: jobs not finished yet use the new key (in the
    restoring transaction)."""
    for job in LabelJob.objects.filter(status__in=UNFINISHED).only(
        "pk", "add_keys", "remove_keys", "delete_keys_after"
    ):
        fields = {}
        for name in ("add_keys", "remove_keys", "delete_keys_after"):
            keys = getattr(job, name)
            if old_key in keys:
                fields[name] = [new_key if key == old_key else key for key in keys]
        if fields:
            LabelJob.objects.filter(pk=job.pk).update(**fields)
