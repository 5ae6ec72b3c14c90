"""In Chromium: a full sync that would delete much of the cache says so and waits, and a Label
manager confirms it with one button; a bulk job with failed contacts offers to retry them."""

import os

import pytest
from django.core.management import call_command
from django.db.models import Q
from playwright.sync_api import expect

from labels.bulk import label_job_execute
from labels.models import LabelJob
from labels.tasks import label_job_start
from sync.models import SyncRun
from sync.service import sync_wix
from tests.fixtures.users import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = os.environ.get("SCREENSHOTS_DIR")  # set it to look at the pages as PNGs


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


@pytest.fixture
def manager(transactional_db):
    call_command("setup_roles", verbosity=0)
    from django.contrib.auth.models import Group

    return make_user("manager", groups=(Group.objects.get(name="Label managers"),))


def test_a_waiting_mass_delete_is_confirmed_with_one_button(
    page, login, manager, sandbox, sync_client, wix_settings
):
    sandbox.reset(contacts=300, labels=4, seed=61)
    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    for contact in sandbox.dump()["contacts"][:100]:
        sandbox.api("DELETE", f"/contacts/v4/contacts/{contact['id']}")
    waiting = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    assert waiting.status == SyncRun.Status.WAITING

    login(manager)
    page.goto(f"/admin/sync/syncrun/{waiting.pk}/change/")
    expect(page.locator("#sync-progress")).to_contain_text(
        "would delete 100 of the 300 cached contacts (33%)"
    )
    shot(page, "sync-waiting")
    page.get_by_role("button", name="Delete them").click()

    expect(page.locator(".messagelist")).to_contain_text("Full sync")
    confirmed = SyncRun.objects.get(pk__gt=waiting.pk)
    assert confirmed.checkpoint.get("allow_mass_delete") == 100  # what the person was shown
    assert confirmed.requested_by == manager

    page.goto(f"/admin/sync/syncrun/{waiting.pk}/change/")  # the old page offers it no more
    expect(page.get_by_text("A later sync has run since")).to_be_visible()
    expect(page.get_by_role("button", name="Delete them")).to_have_count(0)


def test_a_marketer_sees_no_confirm_button(page, login, sandbox, sync_client, wix_settings):
    call_command("setup_roles", verbosity=0)
    from django.contrib.auth.models import Group

    marketer = make_user("marketer", groups=(Group.objects.get(name="Marketing"),))
    run = SyncRun.objects.create(kind="full", status=SyncRun.Status.WAITING, error="Would delete.")
    login(marketer)
    page.goto(f"/admin/sync/syncrun/{run.pk}/change/")
    expect(page.locator("#sync-progress")).to_contain_text("Would delete.")
    expect(page.get_by_role("button", name="Delete them")).to_have_count(0)


def test_failed_contacts_are_retried_from_the_job_page(
    page, login, manager, sandbox, sync_client, wix_settings
):
    sandbox.reset(contacts=40, labels=3, seed=62)
    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    sandbox.control("POST", "bulk-jobs/pace", {"itemsPerSecond": 0})
    dump = sandbox.dump()
    key = next(lb["key"] for lb in dump["labels"] if lb["labelType"] == "USER_DEFINED")
    without = [c["id"] for c in dump["contacts"] if key not in c["labelKeys"]]
    sandbox.set_faults("job_failures=0.4", seed=7)
    job = label_job_start(
        requested_by=manager, description="Give a label", contact_ids=without, add_keys=[key]
    )
    job = label_job_execute(job, client=sync_client, sleep=lambda _: None)
    assert job.failed_contact_ids
    sandbox.set_faults("")

    login(manager)
    page.goto(f"/admin/labels/labeljob/{job.pk}/change/")
    progress = page.locator(f"#job-progress-{job.pk}")
    expect(progress).to_contain_text(f"{job.failed} failed")
    shot(page, "job-failed-contacts")
    retry = progress.get_by_role("button", name=f"Retry the {job.failed} failed contacts")
    retry.click()

    expect(progress).to_have_count(0)  # replaced by the new job's progress
    retried = LabelJob.objects.exclude(pk=job.pk).get()
    assert sorted(retried.contact_ids) == sorted(job.failed_contact_ids)
    expect(page.locator(f"#job-progress-{retried.pk}")).to_contain_text(
        f"Retrying as a new job, Apply labels #{retried.pk}"
    )
    assert not LabelJob.objects.filter(~Q(pk__in=[job.pk, retried.pk])).exists()
