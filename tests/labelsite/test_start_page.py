"""The admin's start page: the main pages with their numbers, the last sync and what needs
attention first, each only for who may see it; the admin's housekeeping models after."""

from datetime import timedelta

import pytest
from django.db import connection
from django.tasks import TaskResultStatus
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from contacts.models import Audience
from journal.models import Operation
from labels.models import LabelJob
from labelsite.dashboard import housekeeping_apps
from sync.models import SyncDeletion, SyncRun
from tests.fixtures.users import make_user
from wixcache.models import Contact, Label

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")


def cache(*, labels: int, contacts: int) -> None:
    now = timezone.now()
    Label.objects.bulk_create(
        Label(key=f"custom.l{i}", display_name=f"Label {i}", namespace="custom")
        for i in range(labels)
    )
    Contact.objects.bulk_create(
        Contact(wix_id=f"c{i}", remote_created_at=now, remote_updated_at=now)
        for i in range(contacts)
    )


def start_page(client, user) -> str:
    client.force_login(user)
    response = client.get(INDEX)
    assert response.status_code == 200
    return response.content.decode()


def main_pages(html: str) -> str:
    return html[html.index('class="start-pages"') : html.index("</nav>", html.index("start-pages"))]


def test_the_main_pages_come_first_with_live_numbers(client, roles, marketer):
    cache(labels=3, contacts=2001)
    Audience.objects.create(name="VIP", rules={})
    html = start_page(client, marketer)
    pages = main_pages(html)
    for name, url, number in [
        ("Labels", reverse("admin:labels_label_changelist"), "3 labels"),
        ("Contacts", reverse("admin:contacts_contact_changelist"), "2,001 contacts"),
        ("Audiences", reverse("admin:contacts_audience_changelist"), "1 saved audience"),
        ("History", reverse("admin:journal_operation_changelist"), None),
    ]:
        assert f'href="{url}"' in pages
        assert name in pages
        if number:
            assert number in pages
    # The housekeeping follows the main pages and the sync, and repeats no main page.
    assert html.index("start-pages") < html.index('id="last-sync"') < html.index("Administration")
    housekeeping = html[html.index("Administration") :]
    assert reverse("admin:labels_labeljob_changelist") in housekeeping
    assert reverse("admin:sync_syncrun_changelist") in housekeeping
    assert reverse("admin:labels_label_changelist") not in housekeeping
    assert reverse("admin:contacts_contact_changelist") not in housekeeping


def test_only_the_pages_a_person_may_open(client, db):
    viewer = make_user("viewer", "contacts.view_contact")
    html = start_page(client, viewer)
    pages = main_pages(html)
    assert reverse("admin:contacts_contact_changelist") in pages
    assert reverse("admin:labels_label_changelist") not in html
    assert reverse("admin:contacts_audience_changelist") not in html
    assert 'id="last-sync"' not in html  # no sync.view_syncrun

    nobody = make_user("nobody")
    html = start_page(client, nobody)
    assert "start-pages" not in html
    assert "permission to view or edit anything" in html


def test_the_housekeeping_list_drops_the_main_pages_and_empty_apps():
    apps = [
        {"app_label": "journal", "models": [{"object_name": "Operation"}]},
        {
            "app_label": "labels",
            "models": [{"object_name": "Label"}, {"object_name": "LabelJob"}],
        },
    ]
    assert housekeeping_apps(apps) == [
        {"app_label": "labels", "models": [{"object_name": "LabelJob"}]}
    ]


def finished_run(**counts) -> SyncRun:
    run = SyncRun.objects.create(kind=SyncRun.Kind.FULL)
    started = timezone.now() - timedelta(minutes=3)
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.SUCCEEDED,
        started_at=started,
        finished_at=started + timedelta(seconds=125),
        **counts,
    )
    return SyncRun.objects.get(pk=run.pk)


def test_the_last_sync_in_plain_words(client, roles, manager, marketer):
    finished_run(contacts_seen=2000, contacts_created=2000, pages=2, requests=4, labels_created=1)
    html = start_page(client, manager)
    sync = html[html.index('id="last-sync"') :]
    assert "Full sync #" in sync
    assert "3\xa0minutes ago" in sync
    assert "Succeeded in 2 min 5 s" in sync
    assert "Contacts: 2,000 new, none changed, none deleted." in sync
    assert "Labels: 1 new, none changed, none deleted." in sync
    assert "2,000 contacts read in 2 pages (4 requests to Wix)." in sync
    assert "+2000" not in sync
    assert ">Sync now<" in sync  # a label manager may start one

    sync = start_page(client, marketer)
    assert 'id="last-sync"' in sync
    assert ">Sync now<" not in sync


def test_attention_a_sync_waiting_to_delete(client, roles, manager, marketer):
    finished_run()
    waiting = SyncRun.objects.create(kind=SyncRun.Kind.FULL, status=SyncRun.Status.WAITING)
    now = timezone.now()
    gone = Contact.objects.bulk_create(
        Contact(wix_id=f"gone{i}", remote_created_at=now, remote_updated_at=now) for i in range(3)
    )
    SyncDeletion.objects.bulk_create(SyncDeletion(run=waiting, contact=c) for c in gone)

    html = start_page(client, manager)
    attention = html[html.index('id="attention-title"') : html.index("start-pages")]
    assert "A full sync would delete 3 contacts that Wix no longer has" in attention
    assert "Open it to confirm" in attention
    assert reverse("admin:sync_syncrun_change", args=[waiting.pk]) in attention
    assert "A label manager can confirm it" in start_page(client, marketer)

    SyncRun.objects.create(kind=SyncRun.Kind.FULL, status=SyncRun.Status.SUCCEEDED)
    assert "Needs attention" not in start_page(client, manager)  # a later run replaced it


def test_attention_stuck_and_failed_jobs_and_unfinished_changes(client, roles, manager):
    now = timezone.now()
    stuck = LabelJob.objects.create(
        description="Add “VIP” to 300 contacts", status=LabelJob.Status.STUCK
    )
    partial = LabelJob.objects.create(
        description="Merge “Lead” into “VIP”",
        status=LabelJob.Status.PARTIAL,
        total=40,
        failed=2,
        finished_at=now - timedelta(hours=2),
    )
    LabelJob.objects.create(  # long ago: no longer news
        description="Old failure",
        status=LabelJob.Status.FAILED,
        finished_at=now - timedelta(days=3),
    )
    LabelJob.objects.create(description="Fine", status=LabelJob.Status.SUCCEEDED, finished_at=now)
    old = Operation.objects.create(kind=Operation.Kind.LABEL_CREATE, summary="x")
    Operation.objects.filter(pk=old.pk).update(
        state=Operation.State.SENT, created_at=now - timedelta(minutes=30)
    )
    Operation.objects.create(kind=Operation.Kind.LABEL_CREATE, summary="just now")

    html = start_page(client, manager)
    attention = html[html.index('id="attention-title"') : html.index("start-pages")]
    assert "Add “VIP” to 300 contacts: stuck in Wix (started just now)" in attention
    assert reverse("admin:labels_labeljob_change", args=[stuck.pk]) in attention
    ended = "Merge “Lead” into “VIP”: ended 2\xa0hours ago with 2 contacts of 40 failed"
    assert ended in attention
    assert reverse("admin:labels_labeljob_change", args=[partial.pk]) in attention
    assert "Old failure" not in attention
    assert "Fine" not in attention
    assert "1 change started more than 5 minutes ago is not finished" in attention
    assert f"{reverse('admin:journal_operation_changelist')}?state=sent" in attention


def test_attention_failed_tasks_for_who_may_see_them(client, roles, manager, admin_user):
    DBTaskResult.objects.create(
        task_path="sync.tasks.sync_run",
        status=TaskResultStatus.FAILED,
        finished_at=timezone.now(),
        args_kwargs={"args": [], "kwargs": {}},
        backend_name="default",
    )
    assert "background task failed" not in start_page(client, manager)
    assert "1 background task failed in the last day" in start_page(client, admin_user)


def test_the_start_page_costs_a_fixed_number_of_queries(client, roles, manager):
    client.force_login(manager)
    client.get(INDEX)  # warm the session and the permission caches' first loads

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(INDEX).status_code == 200
        return len(captured)

    empty = queries()
    cache(labels=50, contacts=500)
    Audience.objects.bulk_create(Audience(name=f"A{i}", rules={}) for i in range(20))
    finished_run(contacts_seen=500)
    LabelJob.objects.bulk_create(
        LabelJob(description=f"job {i}", status=LabelJob.Status.STUCK) for i in range(30)
    )
    Operation.objects.bulk_create(
        Operation(kind=Operation.Kind.LABEL_CREATE, summary=f"op {i}") for i in range(30)
    )
    Operation.objects.update(created_at=timezone.now() - timedelta(hours=1))
    full = queries()
    assert full == empty
    assert full <= 15
