"""Label jobs when Wix's bulk jobs do not simply finish: a job that never ends, contacts that
fail. Nothing is deleted or reported done past a failure, and the person can act on it."""

import pytest
from django.urls import reverse

from labels.bulk import label_job_execute
from labels.models import LabelDeletion, LabelJob
from labels.services import label_job_look_again, label_job_retry_failed, label_merge
from labels.tasks import label_job_start
from tests.fixtures.cache import cache_state, wix_state
from tests.fixtures.users import HTMX, make_user
from wixcache.models import Label

pytestmark = pytest.mark.django_db


class FakeClock:
    """Time that moves only when the job sleeps, so a deadline passes without waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def assert_memberships_equal_wix(sandbox) -> None:
    """Labels and who has them, as in Wix (bulk jobs leave cached revisions behind until the
    next sync, so those are not compared)."""
    cached, remote = cache_state(), wix_state(sandbox)
    assert cached[0] == remote[0]
    assert cached[2] == remote[2]


def run(job, client, clock=None):
    clock = clock or FakeClock()
    return label_job_execute(job, client=client, sleep=clock.sleep, clock=clock)


def user_label(dump, n=0) -> str:
    return [lb["key"] for lb in dump["labels"] if lb["labelType"] == "USER_DEFINED"][n]


@pytest.fixture
def fast_jobs(sandbox):
    sandbox.control("POST", "bulk-jobs/pace", {"itemsPerSecond": 0})


def test_a_job_wix_never_finishes_is_reported_stuck_and_sent_once(
    synced, sandbox, sync_client, manager, settings, fast_jobs, django_capture_on_commit_callbacks
):
    settings.LABEL_JOB_DEADLINE_SECONDS = 60
    dump = synced(contacts=20, labels=3)
    key = user_label(dump)
    without = [c["id"] for c in dump["contacts"] if key not in c["labelKeys"]]
    sandbox.set_faults("stuck_jobs=LOADING")
    job = label_job_start(
        requested_by=manager, description="Give", contact_ids=without, add_keys=[key]
    )

    job = run(job, sync_client)

    assert job.status == LabelJob.Status.STUCK
    assert "has not finished its bulk job after 1 minutes (it says LOADING)" in job.outcome
    assert not job.is_active
    assert set(Label.objects.get(key=key).contacts.values_list("wix_id", flat=True)).isdisjoint(
        without
    )

    sandbox.reset_stats()
    with django_capture_on_commit_callbacks() as enqueued:
        label_job_look_again(job=job)
        label_job_look_again(job=job)  # a double click queues it once
    assert len(enqueued) == 1
    job.refresh_from_db()
    assert job.status == LabelJob.Status.QUEUED
    job = run(job, sync_client)

    assert job.status == LabelJob.Status.STUCK
    routes = sandbox.stats()["byRoute"]
    assert not any("add-remove-labels" in route for route in routes)  # followed, not resent
    assert any("/bulk/jobs/" in route for route in routes)


def test_failed_contacts_are_named_kept_out_of_the_cache_and_can_be_retried(
    synced, sandbox, sync_client, manager, fast_jobs
):
    dump = synced(contacts=60, labels=3, seed=9)
    key = user_label(dump)
    without = [c["id"] for c in dump["contacts"] if key not in c["labelKeys"]]
    sandbox.set_faults("job_failures=0.3", seed=4)
    job = label_job_start(
        requested_by=manager, description="Give", contact_ids=without, add_keys=[key]
    )

    job = run(job, sync_client)

    assert job.status == LabelJob.Status.PARTIAL
    assert job.failed == len(job.failed_contact_ids) > 0
    assert job.done + job.failed == len(without)
    assert_memberships_equal_wix(sandbox)  # the failed ones lack the label here as in Wix

    sandbox.set_faults("")
    retry = label_job_retry_failed(job=job, requested_by=manager)
    assert sorted(retry.contact_ids) == sorted(job.failed_contact_ids)
    retry = run(retry, sync_client)

    assert retry.status == LabelJob.Status.SUCCEEDED
    cached = set(Label.objects.get(key=key).contacts.values_list("wix_id", flat=True))
    assert set(without) <= cached
    assert_memberships_equal_wix(sandbox)


def test_a_merge_with_failed_contacts_deletes_no_source(
    synced, sandbox, sync_client, manager, fast_jobs
):
    dump = synced(contacts=80, labels=4, seed=10)
    target = Label.objects.get(key=user_label(dump, 0))
    source = Label.objects.get(key=user_label(dump, 1))
    sandbox.set_faults("job_failures=0.5", seed=5)
    job = label_merge(sources=[source], target=target, user=manager)
    assert job.total > 0

    job = run(job, sync_client)

    assert job.status == LabelJob.Status.PARTIAL
    assert "did not get the target; retry them, then merge again" in job.outcome
    assert Label.objects.filter(key=source.key).exists()
    assert source.key in {lb["key"] for lb in sandbox.dump()["labels"]}
    assert not LabelDeletion.objects.filter(merge_job=job).exists()  # nothing to undo
    assert_memberships_equal_wix(sandbox)


def test_retry_and_look_again_are_for_the_requester_or_a_label_manager(
    synced, sandbox, sync_client, manager, marketer, client, fast_jobs
):
    dump = synced(contacts=30, labels=3, seed=11)
    key = user_label(dump)
    without = [c["id"] for c in dump["contacts"] if key not in c["labelKeys"]]
    sandbox.set_faults("job_failures=0.5", seed=6)
    job = run(
        label_job_start(
            requested_by=manager, description="Give", contact_ids=without, add_keys=[key]
        ),
        sync_client,
    )
    assert job.failed_contact_ids
    retry_url = reverse("admin:labels_labeljob_retry", args=[job.pk])
    again_url = reverse("admin:labels_labeljob_look_again", args=[job.pk])

    client.force_login(marketer)
    assert client.post(retry_url, headers=HTMX).status_code == 403
    assert client.post(again_url, headers=HTMX).status_code == 403
    assert LabelJob.objects.count() == 1

    other_manager = make_user("another-manager", "labels.change_label", "labels.view_labeljob")
    client.force_login(other_manager)
    response = client.post(retry_url, headers=HTMX)
    assert response.status_code == 200
    assert LabelJob.objects.count() == 2
    retry = LabelJob.objects.exclude(pk=job.pk).get()
    assert f"job-progress-{retry.pk}" in response.content.decode()
