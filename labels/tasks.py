"""Background work of the labels app, run by `manage.py db_worker`."""

from collections.abc import Iterable, Sequence

from django.db import transaction
from django.tasks import task

from journal.models import Operation
from labels.bulk import label_job_execute
from labels.models import LabelJob
from wixcache.budget import site_client


@task
def run_label_job(job_id: int) -> str:
    job = LabelJob.objects.get(pk=job_id)
    with site_client(interactive=False) as client:
        job = label_job_execute(job, client=client)
    return job.outcome


def label_job_start(
    *,
    requested_by,
    description: str,
    contact_ids: Iterable[str],
    add_keys: Sequence[str] = (),
    remove_keys: Sequence[str] = (),
    kind: str = LabelJob.Kind.APPLY,
    delete_keys_after: Sequence[str] = (),
    operation: Operation | None = None,
    retry_of: LabelJob | None = None,
) -> LabelJob:
    """Queue a label change for exactly these contacts (Wix ids); returns the job to watch.

    The job and its task are written in the caller's transaction (the task queue is a table of
    the same database), so a crash never leaves one without the other."""
    ids = list(dict.fromkeys(contact_ids))
    with transaction.atomic():
        job = LabelJob.objects.create(
            kind=kind,
            description=description[:400],
            requested_by=requested_by if getattr(requested_by, "pk", None) else None,
            add_keys=list(add_keys),
            remove_keys=list(remove_keys),
            contact_ids=ids,
            total=len(ids),
            delete_keys_after=list(delete_keys_after),
            operation=operation,
            retry_of=retry_of,
        )
        run_label_job.enqueue(job.pk)
    return job
