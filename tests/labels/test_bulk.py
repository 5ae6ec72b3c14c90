"""Label jobs (labels/bulk.py) run against the sandbox's real bulk jobs."""

import pytest

from labels.bulk import label_job_execute
from labels.models import LabelJob
from labels.tasks import label_job_start
from wixcache.models import Contact, Label

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


def _one_without(dump: dict) -> tuple[str, str]:
    key = next(lb["key"] for lb in dump["labels"] if lb["labelType"] == "USER_DEFINED")
    contact = next(c["id"] for c in dump["contacts"] if key not in c["labelKeys"])
    return key, contact


def _holds(key: str, wix_id: str) -> bool:
    return Label.objects.get(key=key).contacts.filter(wix_id=wix_id).exists()


def test_a_job_for_one_contact_is_one_request_and_no_bulk_job(
    synced, sandbox, sync_client, manager
):
    key, contact = _one_without(synced(contacts=20, labels=3))
    sandbox.reset_stats()
    give = label_job_start(
        requested_by=manager, description="Give", contact_ids=[contact], add_keys=[key]
    )
    give = label_job_execute(give, client=sync_client, sleep=lambda _: None)
    assert give.status == LabelJob.Status.SUCCEEDED
    assert (give.done, give.failed, give.wix_job_ids) == (1, 0, [])
    assert sandbox.stats()["byRoute"] == {"POST /contacts/v4/contacts/{id}/labels": 1}
    in_wix = next(c for c in sandbox.dump()["contacts"] if c["id"] == contact)
    assert key in in_wix["labelKeys"]
    assert _holds(key, contact)
    # The cache took the contact as Wix answered it, its new revision too.
    assert Contact.objects.get(wix_id=contact).revision == in_wix["revision"]

    sandbox.reset_stats()
    take = label_job_start(
        requested_by=manager, description="Take", contact_ids=[contact], remove_keys=[key]
    )
    take = label_job_execute(take, client=sync_client, sleep=lambda _: None)
    assert take.status == LabelJob.Status.SUCCEEDED
    assert sandbox.stats()["byRoute"] == {"DELETE /contacts/v4/contacts/{id}/labels": 1}
    assert key not in next(c for c in sandbox.dump()["contacts"] if c["id"] == contact)["labelKeys"]
    assert not _holds(key, contact)


def test_a_job_for_one_contact_sent_again_after_a_crash_changes_nothing_more(
    synced, sandbox, sync_client, manager
):
    """The worker died after Wix labelled the contact, before the cache heard: the job runs
    again, sends the same call, and ends as if it had run once."""
    key, contact = _one_without(synced(contacts=20, labels=3))
    job = label_job_start(
        requested_by=manager, description="Give", contact_ids=[contact], add_keys=[key]
    )
    sandbox.api("POST", f"/contacts/v4/contacts/{contact}/labels", json={"labelKeys": [key]})

    job = label_job_execute(job, client=sync_client, sleep=lambda _: None)

    assert job.status == LabelJob.Status.SUCCEEDED
    assert (job.done, job.failed) == (1, 0)
    labels = next(c for c in sandbox.dump()["contacts"] if c["id"] == contact)["labelKeys"]
    assert labels.count(key) == 1
    assert _holds(key, contact)


def _give_one_after_wix_deletes(what: str, synced, sandbox, sync_client, manager):
    """A one-contact job giving a label, run after Wix deleted the contact or the label."""
    key, contact = _one_without(synced(contacts=20, labels=3))
    gone = {"contact": f"/contacts/v4/contacts/{contact}", "label": f"/contacts/v4/labels/{key}"}
    assert sandbox.api("DELETE", gone[what]).ok
    job = label_job_start(
        requested_by=manager, description="Give", contact_ids=[contact], add_keys=[key]
    )
    return label_job_execute(job, client=sync_client, sleep=lambda _: None), key, contact


def test_a_job_for_one_contact_wix_no_longer_has_fails_that_contact_and_keeps_the_cache(
    synced, sandbox, sync_client, manager
):
    job, key, contact = _give_one_after_wix_deletes(
        "contact", synced, sandbox, sync_client, manager
    )

    assert job.status != LabelJob.Status.SUCCEEDED
    assert (job.done, job.failed, job.failed_contact_ids) == (0, 1, [contact])
    assert any("no such contact" in error["message"] for error in job.errors)
    assert not _holds(key, contact)


def test_a_job_for_one_contact_whose_label_wix_deleted_fails_the_job_not_the_contact(
    synced, sandbox, sync_client, manager
):
    """A 404 for a label gone in Wix (the cache has not heard yet) is not the contact's fault:
    the job fails with Wix's words, as a bulk job would, and no contact is offered for a retry
    that could only fail again."""
    job, key, contact = _give_one_after_wix_deletes("label", synced, sandbox, sync_client, manager)

    assert job.status != LabelJob.Status.SUCCEEDED
    assert (job.done, job.failed_contact_ids) == (0, [])
    assert any(key in error["message"] for error in job.errors)
    assert Contact.objects.filter(wix_id=contact).exists()


def test_a_job_for_one_contact_that_adds_and_removes_stays_one_bulk_job(
    synced, sandbox, sync_client, manager
):
    """Two calls (add, then remove) could leave Wix half changed if the second failed; one bulk
    job changes both or neither."""
    dump = synced(contacts=20, labels=4)
    keys = [lb["key"] for lb in dump["labels"] if lb["labelType"] == "USER_DEFINED"]
    contact = next(c for c in dump["contacts"] if keys[0] not in c["labelKeys"])["id"]
    sandbox.reset_stats()
    job = label_job_start(
        requested_by=manager,
        description="Swap",
        contact_ids=[contact],
        add_keys=[keys[0]],
        remove_keys=[keys[1]],
    )

    job = label_job_execute(job, client=sync_client, sleep=lambda _: None)

    assert job.status == LabelJob.Status.SUCCEEDED
    routes = sandbox.stats()["byRoute"]
    assert routes.get("POST /contacts/v4/bulk/contacts/add-remove-labels") == 1
    assert "POST /contacts/v4/contacts/{id}/labels" not in routes
    assert _holds(keys[0], contact)
    assert not _holds(keys[1], contact)
