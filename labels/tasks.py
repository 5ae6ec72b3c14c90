"""Background work of the labels app, run by `manage.py db_worker`."""

from django.tasks import task

from labels.bulk import label_job_execute
from labels.models import LabelJob
from labelsite.wix import WixClient


@task
def run_label_job(job_id: int) -> str:
    job = LabelJob.objects.get(pk=job_id)
    with WixClient.from_settings() as client:
        job = label_job_execute(job, client=client)
    return job.outcome
