"""The sync in the admin: "Sync now", its progress partial, the last run on the index, and
runs in plain words."""

from datetime import timedelta

import pytest
from django.urls import reverse

from sync.models import SyncRun
from sync.service import sync_run_start
from tests.fixtures.users import HTMX, make_user
from tests.fixtures.waiting import wait_until
from wixcache.models import Contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return make_user("viewer", "sync.view_syncrun")


@pytest.mark.django_db(transaction=True)
def test_sync_now_queues_a_run_that_the_worker_completes(admin_client, sandbox, task_worker):
    sandbox.reset(contacts=150, labels=5, seed=21)
    response = admin_client.post(
        reverse("admin:sync_syncrun_sync_now"), {"kind": "full"}, follow=True
    )
    run = SyncRun.objects.get()
    assert response.redirect_chain[-1][0] == reverse("admin:sync_syncrun_change", args=[run.pk])
    assert f"Full sync #{run.pk} started." in response.content.decode()
    assert run.status == SyncRun.Status.RUNNING
    assert "Waiting for the background worker" in response.content.decode()

    wait_until(
        lambda: SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.SUCCEEDED).exists(),
        what="the worker to finish the sync",
    )
    assert Contact.objects.count() == 150


def test_sync_now_while_one_runs_says_so(admin_client, wix_settings):
    running = sync_run_start(kind=SyncRun.Kind.FULL)
    response = admin_client.post(
        reverse("admin:sync_syncrun_sync_now"), {"kind": "incremental"}, follow=True
    )
    assert "Another sync is already running" in response.content.decode()
    assert list(SyncRun.objects.all()) == [running]


def test_sync_now_needs_its_permission(client, staff):
    client.force_login(staff)
    response = client.post(reverse("admin:sync_syncrun_sync_now"), {"kind": "full"})
    assert response.status_code == 403
    assert not SyncRun.objects.exists()


def test_sync_now_refuses_get(admin_client):
    assert admin_client.get(reverse("admin:sync_syncrun_sync_now")).status_code == 405


def test_sync_now_anonymous_goes_to_login(client):
    response = client.post(reverse("admin:sync_syncrun_sync_now"), {"kind": "full"})
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
    assert not SyncRun.objects.exists()


def test_progress_partial_polls_while_running_and_stops_after(client, staff):
    client.force_login(staff)
    run = sync_run_start(kind=SyncRun.Kind.FULL)
    SyncRun.objects.filter(pk=run.pk).update(contacts_seen=250, contacts_total=1000, pages=1)
    url = reverse("admin:sync_syncrun_progress", args=[run.pk])

    running = client.get(url, headers=HTMX).content.decode()
    assert running.strip().startswith('<div id="sync-progress"')
    assert 'hx-trigger="every 1s"' in running
    assert 'value="25"' in running
    assert "Running: 250 of 1,000 contacts read (25%)." in running

    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.SUCCEEDED)
    finished = client.get(url, headers=HTMX)
    assert finished["HX-Refresh"] == "true"  # the whole page shows the final state
    done = client.get(url).content.decode()
    assert "hx-trigger" not in done
    assert 'value="100"' in done


def test_progress_partial_checks_permission(client, db):
    user = make_user("nobody")
    client.force_login(user)
    run = sync_run_start(kind=SyncRun.Kind.FULL)
    response = client.get(reverse("admin:sync_syncrun_progress", args=[run.pk]))
    assert response.status_code == 403


def test_admin_index_shows_the_last_run(admin_client):
    run = sync_run_start(kind=SyncRun.Kind.FULL)
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.SUCCEEDED, contacts_seen=42, contacts_created=40
    )
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'id="last-sync"' in page
    assert "Contacts: 40 new, none changed, none deleted." in page
    assert "42 contacts read in 0 pages" in page


def test_the_cache_is_read_only_in_the_admin(admin_client):
    assert admin_client.get(reverse("admin:contacts_contact_add")).status_code == 403
    assert admin_client.get(reverse("admin:sync_syncrun_add")).status_code == 403


def test_admin_index_offers_sync_now_only_with_the_permission(admin_client, client, staff):
    assert 'value="full"' in admin_client.get(reverse("admin:index")).content.decode()
    client.force_login(staff)
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="last-sync"' in page
    assert 'value="full"' not in page


def test_the_last_run_shows_on_the_site_index_only(admin_client):
    sync_run_start(kind=SyncRun.Kind.FULL)
    app_index = admin_client.get(reverse("admin:app_list", args=["auth"])).content.decode()
    assert 'id="last-sync"' not in app_index


def finished(**fields) -> SyncRun:
    run = sync_run_start(kind=SyncRun.Kind.FULL)
    started = run.started_at
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.SUCCEEDED, **fields)
    if "finished_at" not in fields:
        SyncRun.objects.filter(pk=run.pk).update(finished_at=started + timedelta(seconds=0.825))
    return SyncRun.objects.get(pk=run.pk)


def test_a_run_page_says_what_it_did_in_words(client, staff):
    client.force_login(staff)
    run = finished(contacts_seen=2000, contacts_created=2000, labels_updated=1, pages=1, requests=3)
    page = client.get(reverse("admin:sync_syncrun_change", args=[run.pk])).content.decode()
    assert (
        "Done in 0.8 s. Contacts: 2,000 new, none changed, none deleted. "
        "Labels: none new, 1 changed, none deleted. 2,000 contacts read in 1 page "
        "(3 requests to Wix)."
    ) in " ".join(page.split())
    assert "0:00:00" not in page
    assert "+2000" not in page
    assert "1 pages" not in page


def test_the_run_list_says_durations_and_changes_in_words(client, staff):
    client.force_login(staff)
    run = finished(contacts_updated=3)
    SyncRun.objects.filter(pk=run.pk).update(finished_at=run.started_at + timedelta(seconds=125))
    page = client.get(reverse("admin:sync_syncrun_changelist")).content.decode()
    assert "2 min 5 s" in page
    assert "none new, 3 changed, none deleted" in page
    assert "0:02:05" not in page


def test_a_failed_run_says_why(client, staff):
    client.force_login(staff)
    run = sync_run_start(kind=SyncRun.Kind.INCREMENTAL)
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.FAILED, error="Wix said 401.")
    page = client.get(reverse("admin:sync_syncrun_change", args=[run.pk])).content.decode()
    assert "Failed: Wix said 401." in page
