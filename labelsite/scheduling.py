"""Work the worker repeats: each round queues the next, unless one is queued already."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult


def queue_next_round(task, *, seconds: int, force: bool = False) -> bool:
    """Queue `task` to run in `seconds` (0 or less: never) unless one is queued already, or
    `force`. Returns whether it was queued."""
    if seconds <= 0:
        return False
    queued = DBTaskResult.objects.filter(status=TaskResultStatus.READY, task_path=task.module_path)
    if not force and queued.exists():
        return False
    task.using(run_after=timezone.now() + timedelta(seconds=seconds)).enqueue()
    return True
