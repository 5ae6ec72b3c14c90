"""The sync against the sandbox: full and incremental runs, resuming, faults, query counts."""

import itertools
import socket
import subprocess

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from msgspec.structs import replace

from labelsite.wix import WixClient
from labelsite.wix.records import WixContact
from sync.models import SyncRun
from sync.service import (
    SyncAlreadyRunning,
    SyncFailed,
    sync_run_execute,
    sync_run_start,
    sync_wix,
)
from tests.fixtures.cache import assert_cache_equals_wix, cache_state
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db


def test_full_sync_makes_the_cache_equal_to_wix(sandbox, sync_client):
    sandbox.reset(contacts=2500, labels=30, seed=5)
    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.contacts_created == 2500
    assert run.labels_created == 32  # 30 user labels and the two system labels
    assert run.pages == 3
    assert_cache_equals_wix(sandbox)


def test_running_twice_changes_nothing(sandbox, sync_client):
    sandbox.reset(contacts=1200, labels=10, seed=2)
    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    before = cache_state()
    again = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    counts = [
        again.contacts_created,
        again.contacts_updated,
        again.contacts_deleted,
        again.labels_created,
        again.labels_updated,
        again.labels_deleted,
    ]
    assert counts == [0] * 6
    assert cache_state() == before


def test_full_sync_under_faults_ends_equal(sandbox, sync_client, settings):
    settings.SYNC_PAGE_SIZE = 50  # many requests, so that faults surely strike
    sandbox.reset(contacts=2500, labels=25, seed=9)
    sandbox.set_faults("500=0.05,429=0.05,reset=0.01,latency=1-10ms", seed=11)
    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    sandbox.set_faults("")
    served = sandbox.stats()["byStatus"]
    assert run.status == SyncRun.Status.SUCCEEDED
    assert sync_client.retry_count > 0
    assert served.get("500", 0) > 0
    assert served.get("429", 0) > 0
    assert_cache_equals_wix(sandbox)


def test_full_sync_removes_what_wix_deleted(sandbox, sync_client):
    sandbox.reset(contacts=1500, labels=12, seed=4)
    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    dump = sandbox.dump()
    doomed_contacts = [c["id"] for c in dump["contacts"][::97]]
    for contact_id in doomed_contacts:
        assert sandbox.api("DELETE", f"/contacts/v4/contacts/{contact_id}").ok
    doomed_label = next(lb["key"] for lb in dump["labels"] if lb["labelType"] == "USER_DEFINED")
    assert sandbox.api("DELETE", f"/contacts/v4/labels/{doomed_label}").ok

    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)

    assert run.contacts_deleted == len(doomed_contacts)
    assert run.labels_deleted == 1
    assert not Contact.objects.filter(wix_id__in=doomed_contacts).exists()
    assert not Label.objects.filter(key=doomed_label).exists()
    assert_cache_equals_wix(sandbox)


def test_incremental_sync_fetches_only_what_changed(sandbox, sync_client):
    sandbox.reset(contacts=3000, labels=20, seed=6)
    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    dump = sandbox.dump()
    label_key = next(lb["key"] for lb in dump["labels"] if lb["labelType"] == "USER_DEFINED")
    without = [c["id"] for c in dump["contacts"] if label_key not in c["labelKeys"]]
    changed = without[::100][:30]  # 1% of 3000
    for contact_id in changed:
        response = sandbox.api(
            "POST", f"/contacts/v4/contacts/{contact_id}/labels", json={"labelKeys": [label_key]}
        )
        assert response.ok
    sandbox.reset_stats()

    run = sync_wix(kind=SyncRun.Kind.INCREMENTAL, client=sync_client)

    assert run.contacts_seen >= len(changed)
    assert run.contacts_seen < 3000 / 10
    assert run.contacts_deleted == 0
    contact_queries = sandbox.stats()["byRoute"].get("POST /contacts/v4/contacts/query", 0)
    assert contact_queries == 1
    assert_cache_equals_wix(sandbox)


def test_statistics_are_refreshed_while_the_cache_fills_not_on_a_sync_that_updates(
    sandbox, sync_client, settings
):
    """PostgreSQL: ANALYZE after pages 1, 4, 16... while a run creates more contacts than the
    statistics believe the cache holds; an incremental sync that only updates is spared it.
    SQLite keeps no such statistics to fall behind."""
    postgresql = connection.vendor == "postgresql"
    settings.SYNC_PAGE_SIZE = 100
    sandbox.reset(contacts=500, labels=4, seed=21)
    if postgresql:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE contacts_contact")  # the statistics of an empty cache

    def analyzed(kind: SyncRun.Kind) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            sync_wix(kind=kind, client=sync_client)
        return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("ANALYZE")]

    assert len(analyzed(SyncRun.Kind.FULL)) == (2 if postgresql else 0)  # pages 1 and 4 of 5
    label_key = next(
        lb["key"] for lb in sandbox.dump()["labels"] if lb["labelType"] == "USER_DEFINED"
    )
    for contact in sandbox.dump()["contacts"][::50]:
        response = sandbox.api(
            "POST", f"/contacts/v4/contacts/{contact['id']}/labels", json={"labelKeys": [label_key]}
        )
        assert response.ok
    assert analyzed(SyncRun.Kind.INCREMENTAL) == []
    assert_cache_equals_wix(sandbox)


def test_incremental_without_earlier_run_reads_everything(sandbox, sync_client):
    sandbox.reset(contacts=300, labels=5, seed=3)
    run = sync_wix(kind=SyncRun.Kind.INCREMENTAL, client=sync_client)
    assert run.contacts_created == 300
    assert_cache_equals_wix(sandbox)


def test_labels_only_sync_leaves_contacts_alone(sandbox, sync_client):
    sandbox.reset(contacts=100, labels=7, seed=3)
    run = sync_wix(kind=SyncRun.Kind.LABELS, client=sync_client)
    assert run.labels_created == 9
    assert Contact.objects.count() == 0


def test_a_second_run_is_refused_while_one_runs(sandbox, sync_client):
    running = sync_run_start(kind=SyncRun.Kind.FULL)
    with pytest.raises(SyncAlreadyRunning, match="Another sync is already running"):
        sync_wix(kind=SyncRun.Kind.INCREMENTAL, client=sync_client)
    running.refresh_from_db()
    assert running.status == SyncRun.Status.RUNNING


def test_a_run_whose_process_died_is_resumed(sandbox, sync_client):
    sandbox.reset(contacts=2200, labels=8, seed=8)
    pages_seen = []

    class Killed(Exception):
        pass

    def die_after_two_pages(run):
        pages_seen.append(run.pages)
        if run.pages == 2:
            raise Killed

    run = sync_run_start(kind=SyncRun.Kind.FULL)
    with pytest.raises(Killed):
        sync_run_execute(run, client=sync_client, on_progress=die_after_two_pages)
    # As if the process were gone: the run still says running, its worker no longer exists.
    dead = subprocess.Popen(["true"])
    dead.wait()
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.RUNNING,
        checkpoint={**run.checkpoint, "worker": f"{socket.gethostname()}:{dead.pid}"},
    )
    assert Contact.objects.count() == 1999  # each page after the first repeats its boundary

    resumed = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.INTERRUPTED
    assert resumed.resumed_from == run
    assert resumed.pages == 1  # only the page after the checkpoint
    assert resumed.contacts_seen == 2200
    assert_cache_equals_wix(sandbox)


def test_contacts_created_and_deleted_during_a_run_lose_nothing(sandbox, sync_client, settings):
    # Small pages: the changes land while many pages are still to be fetched.
    settings.SYNC_PAGE_SIZE = 100
    sandbox.reset(contacts=2500, labels=6, seed=12)
    later = [c["id"] for c in sandbox.dump()["contacts"][-300:]]

    def meddle(run):
        if run.pages == 1:
            for n in range(5):
                sandbox.api(
                    "POST", "/contacts/v4/contacts", json={"info": {"name": {"first": f"New{n}"}}}
                )
            for contact_id in later[:10]:
                sandbox.api("DELETE", f"/contacts/v4/contacts/{contact_id}")

    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client, on_progress=meddle)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert Contact.objects.filter(first_name__startswith="New").count() == 5
    assert not Contact.objects.filter(wix_id__in=later[:10]).exists()
    assert_cache_equals_wix(sandbox)


def test_label_changes_during_a_run_arrive_with_the_next_incremental(
    sandbox, sync_client, settings
):
    settings.SYNC_PAGE_SIZE = 100
    sandbox.reset(contacts=2100, labels=6, seed=13)
    first = sandbox.dump()["contacts"][0]["id"]

    def meddle(run):
        if run.pages == 2:
            created = sandbox.api("POST", "/contacts/v4/labels", json={"displayName": "Mid-run"})
            key = created.json()["label"]["key"]
            sandbox.api("POST", f"/contacts/v4/contacts/{first}/labels", json={"labelKeys": [key]})

    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client, on_progress=meddle)
    assert not ContactLabel.objects.filter(label__display_name="Mid-run").exists()

    sync_wix(kind=SyncRun.Kind.INCREMENTAL, client=sync_client)

    assert ContactLabel.objects.filter(
        label__display_name="Mid-run", contact__wix_id=first
    ).exists()
    assert_cache_equals_wix(sandbox)


def test_an_unknown_label_on_a_contact_refreshes_labels(sandbox, sync_client, settings):
    settings.SYNC_PAGE_SIZE = 100
    sandbox.reset(contacts=1500, labels=4, seed=14)
    last = sandbox.dump()["contacts"][-1]["id"]

    def meddle(run):
        if run.pages == 1:
            created = sandbox.api("POST", "/contacts/v4/labels", json={"displayName": "Brand new"})
            key = created.json()["label"]["key"]
            sandbox.api("POST", f"/contacts/v4/contacts/{last}/labels", json={"labelKeys": [key]})

    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client, on_progress=meddle)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert ContactLabel.objects.filter(
        label__display_name="Brand new", contact__wix_id=last
    ).exists()


def test_statements_per_page_are_a_small_constant(sandbox, sync_client):
    sandbox.reset(contacts=2500, labels=40, seed=15)
    run = sync_run_start(kind=SyncRun.Kind.FULL)
    with CaptureQueriesContext(connection) as queries:
        marks: list[int] = []
        sync_run_execute(run, client=sync_client, on_progress=lambda _: marks.append(len(queries)))
    per_page = [after - before for before, after in itertools.pairwise(marks)]
    assert len(per_page) == 2  # pages 2 and 3 of 1000, 1000 and 500 contacts
    assert all(statements <= 10 for statements in per_page), per_page


def test_wix_refusing_fails_the_run_with_a_plain_reason(sandbox):
    with (
        WixClient(
            base_url=sandbox.url,
            api_key="wrong",
            site_id=sandbox.site_id,
            max_requests_per_minute=0,
        ) as client,
        pytest.raises(SyncFailed) as failure,
    ):
        sync_wix(kind=SyncRun.Kind.FULL, client=client)
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.FAILED
    assert run.error == str(failure.value)
    assert "wrong" not in run.error
    assert run.error


def test_walking_contacts_in_small_pages_loses_and_repeats_nothing(sandbox, sync_client):
    sandbox.reset(contacts=0, labels=0)
    for n in range(25):
        sandbox.api("POST", "/contacts/v4/contacts", json={"info": {"name": {"first": f"P{n}"}}})
    pages = list(sync_client.walk_contacts(page_size=4))
    ids = [c.id for page in pages for c in page.contacts]
    assert len(ids) == len(set(ids)) == 25


# Real commits, so that the database checks its foreign keys.
@pytest.mark.django_db(transaction=True)
def test_a_label_deleted_here_during_a_run_gets_no_memberships(sandbox, sync_client, settings):
    """A person deletes a label (Wix first, then here) while a sync writes pages."""
    settings.SYNC_PAGE_SIZE = 100
    sandbox.reset(contacts=800, labels=4, seed=16)
    dump = sandbox.dump()
    doomed = max(  # the most used label, so that the pages fetched ahead surely carry it
        (lb["key"] for lb in dump["labels"] if lb["labelType"] == "USER_DEFINED"),
        key=lambda key: sum(key in c["labelKeys"] for c in dump["contacts"]),
    )

    def delete_label(run):
        if run.pages == 2:
            assert sandbox.api("DELETE", f"/contacts/v4/labels/{doomed}").ok
            Label.objects.filter(key=doomed).delete()

    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client, on_progress=delete_label)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert not Label.objects.filter(key=doomed).exists()
    # Pages fetched before the delete still carried the key: they must not bring it back.
    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    assert_cache_equals_wix(sandbox)


def test_a_key_missing_from_wix_labels_is_looked_up_once_not_per_page(
    sandbox, sync_client, settings, monkeypatch
):
    """Wix could list a key on contacts that its labels API does not know (the sandbox never
    does, so the pages are doctored here): one fresh pull, then the key is ignored."""
    settings.SYNC_PAGE_SIZE = 100
    sandbox.reset(contacts=500, labels=3, seed=17)
    real_query = sync_client.query_contacts

    def with_phantom(contact: WixContact) -> WixContact:
        keys = replace(contact.info.label_keys, items=(*contact.label_keys, "custom.phantom"))
        return replace(contact, info=replace(contact.info, label_keys=keys))

    def query_with_a_phantom_key(**kwargs):
        page = real_query(**kwargs)
        return replace(page, contacts=tuple(map(with_phantom, page.contacts)))

    monkeypatch.setattr(sync_client, "query_contacts", query_with_a_phantom_key)
    sandbox.reset_stats()

    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.pages >= 5
    label_reads = sum(
        count for route, count in sandbox.stats()["byRoute"].items() if "/labels" in route
    )
    assert label_reads == 2  # the first pull, and one more for the unknown key
    assert not Label.objects.filter(key="custom.phantom").exists()
    assert Contact.objects.count() == 500
