"""The worker's periodic incremental sync keeps the cache fresh on its own."""

from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from sync.models import SyncRun
from sync.tasks import periodic_sync, periodic_sync_schedule
from wixcache.models import Contact

pytestmark = pytest.mark.django_db


def queued() -> list[DBTaskResult]:
    return list(
        DBTaskResult.objects.filter(
            status=TaskResultStatus.READY, task_path=periodic_sync.module_path
        )
    )


def test_scheduling_queues_one_periodic_sync_after_the_interval(settings):
    settings.SYNC_INTERVAL_SECONDS = 120
    before = timezone.now()
    assert periodic_sync_schedule() is True
    assert periodic_sync_schedule() is False  # already queued: not twice
    [task] = queued()
    assert (
        before + timedelta(seconds=119) <= task.run_after <= timezone.now() + timedelta(seconds=121)
    )


def test_no_periodic_sync_when_the_interval_is_zero(settings):
    settings.SYNC_INTERVAL_SECONDS = 0
    assert periodic_sync_schedule() is False
    assert queued() == []


def test_a_periodic_sync_syncs_and_queues_the_next(settings, wix_settings, sandbox):
    settings.SYNC_INTERVAL_SECONDS = 300
    sandbox.reset(contacts=40, labels=3, seed=4)

    outcome = periodic_sync.call()

    run = SyncRun.objects.get()
    assert outcome == f"Sync #{run.pk} finished."
    assert run.kind == SyncRun.Kind.INCREMENTAL
    assert Contact.objects.count() == 40
    assert len(queued()) == 1


def test_a_periodic_sync_refused_still_queues_the_next(settings, wix_settings, sandbox):
    settings.SYNC_INTERVAL_SECONDS = 300
    SyncRun.objects.create(kind=SyncRun.Kind.FULL, checkpoint={"worker": ""})

    outcome = periodic_sync.call()

    assert "Another sync is already running" in outcome
    assert len(queued()) == 1
