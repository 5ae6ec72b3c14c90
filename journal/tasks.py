"""The worker's part of the journal: settle what crashed processes left open, regularly."""

from datetime import timedelta

from django.conf import settings
from django.tasks import TaskResultStatus, task
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from journal.settle import operations_settle
from wixcache.budget import site_client


@task
def settle_operations(*, again: bool = True) -> str:
    """Settle open operations against Wix; then queue the next round."""
    try:
        with site_client(interactive=False) as client:
            counts = operations_settle(client=client)
    finally:
        if again:  # unless another round is queued already
            settle_operations_schedule()
    return f"Settled: {counts['done']} done, {counts['failed']} failed, {counts['open']} open."


def settle_operations_schedule(*, force: bool = False) -> bool:
    interval = settings.OPERATION_SETTLE_INTERVAL_SECONDS
    if interval <= 0:
        return False
    queued = DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, task_path=settle_operations.module_path
    )
    if not force and queued.exists():
        return False
    settle_operations.using(run_after=timezone.now() + timedelta(seconds=interval)).enqueue()
    return True
