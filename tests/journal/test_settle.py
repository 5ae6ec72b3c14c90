"""Settling what a crash left open: each kind of operation checked against Wix and ended done
(the cache made to follow) or failed (nothing changed); jobs of a dead worker go on."""

from __future__ import annotations

import pytest

from journal.models import Operation
from journal.services import operation_plan, operation_sent
from journal.settle import operations_settle
from labels.models import LabelDeletion, LabelJob
from labels.selectors import label_contact_ids, label_deletions_open
from wixcache.models import ContactLabel, Label
from wixcache.store import label_store, labels_delete

pytestmark = pytest.mark.django_db
GONE = "no-such-host:1"  # a process that is not running anywhere (another host, long ago)


def _left_open(kind: str, *, args: dict, user=None, process: str = "") -> Operation:
    """An operation as a process that died after asking Wix left it."""
    op = operation_plan(kind=kind, user=user, summary=f"Left open: {kind}", args=args)
    operation_sent(op)
    Operation.objects.filter(pk=op.pk).update(process=process)
    op.refresh_from_db()
    return op


def test_a_label_wix_made_is_stored_and_the_create_done(synced, sync_client, manager):
    synced(contacts=5, labels=2)
    op = _left_open(Operation.Kind.LABEL_CREATE, args={"name": "Made before the crash"})
    record, _ = sync_client.find_or_create_label("Made before the crash")

    assert operations_settle(client=sync_client)["done"] == 1
    op.refresh_from_db()
    assert op.state == Operation.State.DONE
    assert Label.objects.filter(key=record.key, display_name="Made before the crash").exists()
    assert op.refs.filter(ref=record.key).exists()


def test_a_created_label_deleted_before_settling_is_not_brought_back(synced, sync_client):
    # The create's answer was lost; meanwhile the label was seen, deleted here and in Wix,
    # while Wix's label list (eventually consistent) may still show it to the settling.
    synced(contacts=5, labels=2)
    op = _left_open(Operation.Kind.LABEL_CREATE, args={"name": "Short lived"})
    record, _ = sync_client.find_or_create_label("Short lived")
    LabelDeletion.objects.create(
        display_name="Short lived", key=record.key, label_type="USER_DEFINED"
    )

    assert operations_settle(client=sync_client)["done"] == 1
    op.refresh_from_db()
    assert op.state == Operation.State.DONE
    assert op.outcome == "Made in Wix, and deleted since."
    assert not Label.objects.filter(key=record.key).exists()


def test_a_created_label_a_webhook_deleted_before_settling_is_not_brought_back(synced, sync_client):
    """As above, but the cache let the label go on a webhook's word (no person's deletion)."""
    synced(contacts=5, labels=2)
    op = _left_open(Operation.Kind.LABEL_CREATE, args={"name": "Webhook gone"})
    record, _ = sync_client.find_or_create_label("Webhook gone")
    label_store(record)
    labels_delete([Label.objects.get(key=record.key).pk])

    assert operations_settle(client=sync_client)["done"] == 1
    op.refresh_from_db()
    assert op.outcome == "Made in Wix, and deleted since."
    assert not Label.objects.filter(key=record.key).exists()


def test_a_renamed_label_deleted_before_settling_is_not_brought_back(synced, sync_client):
    # Wix renamed it and its answer was lost; the label was deleted here since, while Wix's
    # answer to the settling still shows it: the rename is done, the label stays gone.
    synced(contacts=5, labels=2)
    label = Label.objects.filter(key__startswith="custom.").first()
    op = _left_open(
        Operation.Kind.LABEL_RENAME,
        args={"key": label.key, "from": label.display_name, "to": "Renamed meanwhile"},
    )
    sync_client.rename_label(label.key, "Renamed meanwhile")
    LabelDeletion.objects.create(
        display_name=label.display_name, key=label.key, label_type="USER_DEFINED"
    )
    label.delete()

    assert operations_settle(client=sync_client)["done"] == 1
    op.refresh_from_db()
    assert op.outcome == "Renamed in Wix, and deleted since."
    assert not Label.objects.filter(key=label.key).exists()


def test_a_create_wix_never_got_fails_with_nothing_made(synced, sync_client):
    synced(contacts=5, labels=2)
    op = _left_open(Operation.Kind.LABEL_CREATE, args={"name": "Never sent"})

    assert operations_settle(client=sync_client)["failed"] == 1
    op.refresh_from_db()
    assert op.state == Operation.State.FAILED
    assert not Label.objects.filter(display_name="Never sent").exists()


def test_a_delete_wix_carried_out_is_finished_here_and_can_be_undone(synced, sync_client, manager):
    synced(contacts=20, labels=3)
    label = Label.objects.filter(contacts__isnull=False, label_type="USER_DEFINED").first()
    op = _left_open(
        Operation.Kind.LABEL_DELETE,
        args={"key": label.key, "name": label.display_name},
        user=manager,
    )
    ids = label_contact_ids(label=label)
    LabelDeletion.objects.create(
        display_name=label.display_name,
        key=label.key,
        label_type=label.label_type,
        contact_ids=ids,
        contact_count=len(ids),
        operation=op,
    )
    assert not label_deletions_open().exists()  # not before Wix is known to have done it
    sync_client.delete_label(label.key)

    operations_settle(client=sync_client)
    op.refresh_from_db()
    assert op.state == Operation.State.DONE
    assert op.reverse
    assert op.undo_until
    assert not Label.objects.filter(key=label.key).exists()
    assert label_deletions_open().filter(operation=op).exists()


def test_a_contact_change_is_settled_by_what_wix_has(synced, sync_client, manager):
    synced(contacts=10, labels=3)
    done, undone = ContactLabel.objects.select_related("contact", "label")[:2]
    for membership in (done, undone):
        _left_open(
            Operation.Kind.CONTACT_LABELS,
            args={
                "type": "contact",
                "contact": membership.contact.wix_id,
                "add": [],
                "remove": [membership.label.key],
            },
            user=manager,
        )
    sync_client.unlabel_contact(done.contact.wix_id, [done.label.key])  # only the first reached Wix

    counts = operations_settle(client=sync_client)
    assert (counts["done"], counts["failed"]) == (1, 1)
    assert not ContactLabel.objects.filter(pk=done.pk).exists()
    assert ContactLabel.objects.filter(pk=undone.pk).exists()


def test_a_live_process_is_left_to_finish_its_own_work(synced, sync_client):
    synced(contacts=5, labels=2)
    op = operation_plan(
        kind=Operation.Kind.LABEL_CREATE, user=None, summary="x", args={"name": "x"}
    )
    assert operations_settle(client=sync_client)["open"] == 1  # this process made it, and lives
    op.refresh_from_db()
    assert op.state == Operation.State.PLANNED


def test_a_running_job_of_a_dead_worker_is_queued_again(synced, sync_client, manager):
    synced(contacts=5, labels=2)
    job = LabelJob.objects.create(
        description="Killed mid-way",
        status=LabelJob.Status.RUNNING,
        requested_by=manager,
        add_keys=[Label.objects.first().key],
        contact_ids=[],
        process=GONE,
    )
    job.heartbeat_at = job.created_at
    LabelJob.objects.filter(pk=job.pk).update(heartbeat_at=job.created_at.replace(year=2020))

    assert operations_settle(client=sync_client)["revived"] == 1
    job.refresh_from_db()
    assert job.status == LabelJob.Status.QUEUED


def test_a_queued_job_whose_task_a_dead_worker_took_is_queued_again(
    synced, sync_client, sandbox, manager
):
    """Found by the crash test: the worker died after taking the job's task and before starting
    the job. The task stayed taken, the job queued, and nothing would ever run it."""
    from datetime import timedelta

    from django.tasks import TaskResultStatus
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from labels.bulk import label_job_execute
    from labels.tasks import label_job_start, run_label_job

    wix = synced(contacts=5, labels=2)
    key = Label.objects.filter(key__startswith="custom.").first().key
    job = label_job_start(
        requested_by=manager,
        description="Taken by a worker that died",
        contact_ids=[c["id"] for c in wix["contacts"]],
        add_keys=[key],
    )
    tasks = DBTaskResult.objects.filter(task_path=run_label_job.module_path)
    assert operations_settle(client=sync_client)["revived"] == 0  # its task waits: fine
    tasks.update(status=TaskResultStatus.RUNNING, started_at=timezone.now() - timedelta(minutes=5))

    assert operations_settle(client=sync_client)["revived"] == 1
    assert tasks.filter(status=TaskResultStatus.READY).count() == 1
    assert operations_settle(client=sync_client)["revived"] == 0  # queued once, not per round

    # Two tasks for one job (the old one was only slow after all): it runs once.
    stale = LabelJob.objects.get(pk=job.pk)
    finished = label_job_execute(LabelJob.objects.get(pk=job.pk), client=sync_client)
    assert finished.status == LabelJob.Status.SUCCEEDED
    sandbox.reset_stats()
    again = label_job_execute(stale, client=sync_client)
    assert again.status == LabelJob.Status.SUCCEEDED
    assert sum(sandbox.stats()["byRoute"].values()) == 0  # nothing sent twice


def test_a_settle_that_fails_on_wix_lets_go_and_the_next_round_settles(
    synced, sandbox, sync_client
):
    synced(contacts=5, labels=2)
    op = _left_open(Operation.Kind.LABEL_CREATE, args={"name": "Checked twice"})
    sandbox.set_faults("503=1.0")
    assert operations_settle(client=sync_client)["open"] == 1
    op.refresh_from_db()
    assert op.state == Operation.State.SENT
    assert op.process == ""  # let go: not held by this (living) process

    sandbox.set_faults("")
    assert operations_settle(client=sync_client)["failed"] == 1
