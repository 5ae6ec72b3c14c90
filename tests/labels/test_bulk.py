"""Label jobs (labels/bulk.py) run against the sandbox's real bulk jobs."""

import pytest

from labels.bulk import label_job_execute
from labels.models import LabelJob
from labels.tasks import label_job_start
from wixcache.models import Label

pytestmark = pytest.mark.django_db


def test_a_job_adds_the_label_in_wix_and_in_the_cache(synced, sandbox, sync_client, manager):
    dump = synced(contacts=30, labels=4)
    key = next(lb["key"] for lb in dump["labels"] if lb["labelType"] == "USER_DEFINED")
    without = [c["id"] for c in dump["contacts"] if key not in c["labelKeys"]][:10]
    sandbox.control("POST", "bulk-jobs/pace", {"itemsPerSecond": 0})
    job = label_job_start(
        requested_by=manager, description="Give", contact_ids=without, add_keys=[key]
    )

    job = label_job_execute(job, client=sync_client, sleep=lambda _: None)

    assert job.status == LabelJob.Status.SUCCEEDED
    assert (job.done, job.failed, job.total) == (10, 0, 10)
    in_wix = {c["id"] for c in sandbox.dump()["contacts"] if key in c["labelKeys"]}
    assert set(without) <= in_wix
    cached = set(Label.objects.get(key=key).contacts.values_list("wix_id", flat=True))
    assert set(without) <= cached


def test_a_merge_whose_source_wix_refuses_to_delete_is_not_reported_done(
    synced, sandbox, sync_client, manager
):
    dump = synced(contacts=20, labels=3)
    target = next(lb["key"] for lb in dump["labels"] if lb["labelType"] == "USER_DEFINED")
    having = [c["id"] for c in dump["contacts"] if "contacts.customers" in c["labelKeys"]]
    sandbox.control("POST", "bulk-jobs/pace", {"itemsPerSecond": 0})
    # Wix never deletes a system label: the job's last step fails after the contacts are done.
    job = label_job_start(
        requested_by=manager,
        description="Merge Customers",
        contact_ids=having,
        add_keys=[target],
        kind=LabelJob.Kind.MERGE,
        delete_keys_after=["contacts.customers"],
    )

    job = label_job_execute(job, client=sync_client, sleep=lambda _: None)

    assert job.status != LabelJob.Status.SUCCEEDED
    assert "Not deleted, because Wix failed: “Customers”." in job.outcome
    assert Label.objects.filter(key="contacts.customers").exists()
    assert any("system label" in error["message"].lower() for error in job.errors)
