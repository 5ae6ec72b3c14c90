"""Wix is the truth and the cache a copy: a full sync deletes a cached contact or label only when
Wix confirms it is gone, and never a large share of the cache without a person's say-so.

The sandbox's behaviour faults stand in for what a real site may do: pages shorter than asked for
while more remain (`short_pages`), labels deleted in Wix while a pull pages through them
(`label_churn`).
"""

import random
from dataclasses import replace
from unittest.mock import patch

import pytest

from labels.services import label_create, label_delete
from sync import service as sync_service
from sync.models import SyncDeletion, SyncRun
from sync.service import labels_pull, sync_wix
from tests.fixtures.cache import assert_cache_equals_wix, cache_state, wix_state
from tests.fixtures.database import subprocess_env
from tests.fixtures.processes import kill_full_syncs
from wixcache.models import Contact, Label

pytestmark = pytest.mark.django_db


def wix_contact_ids(sandbox) -> list[str]:
    return [contact["id"] for contact in sandbox.dump()["contacts"]]


def delete_in_wix(sandbox, contact_ids) -> None:
    for contact_id in contact_ids:
        assert sandbox.api("DELETE", f"/contacts/v4/contacts/{contact_id}").ok


def test_short_pages_delete_nothing_wix_still_has(sandbox, sync_client):
    """Tried before: behind a server serving at most 400 a page, a full sync of a complete
    cache of 3,000 contacts deleted 2,600 of them."""
    sandbox.reset(contacts=3000, labels=10, seed=21)
    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    sandbox.set_faults("short_pages=400")

    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.contacts_deleted == 0
    assert run.contacts_seen == 3000
    assert Contact.objects.count() == 3000
    assert_cache_equals_wix(sandbox)


def test_short_pages_still_find_what_wix_deleted(sandbox, sync_client):
    sandbox.reset(contacts=2000, labels=5, seed=22)
    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    gone = wix_contact_ids(sandbox)[::250]  # 8 contacts spread over the whole walk
    delete_in_wix(sandbox, gone)
    sandbox.set_faults("short_pages=300")

    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.contacts_deleted == len(gone)
    assert not Contact.objects.filter(wix_id__in=gone).exists()
    assert not SyncDeletion.objects.exists()
    assert_cache_equals_wix(sandbox)


def test_a_first_sync_from_an_empty_cache_under_short_pages_gets_everyone(sandbox, sync_client):
    sandbox.reset(contacts=1500, labels=5, seed=23)
    sandbox.set_faults("short_pages=333")
    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    assert run.contacts_created == 1500
    assert_cache_equals_wix(sandbox)


def test_labels_deleted_mid_pull_never_take_a_live_label_with_them(sandbox, sync_client):
    """With more than 1,000 labels, a label deleted in Wix during the pull shifts the pages and
    another label is never seen; it must not be deleted here (with its memberships)."""
    sandbox.reset(contacts=400, labels=2600, seed=24)
    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    memberships_before = {
        label.key: label.contacts.count() for label in Label.objects.all() if label.key
    }
    sandbox.set_faults("label_churn=1", seed=3)
    sandbox.reset_stats()

    pulled = labels_pull(client=sync_client)

    wix_keys = {label["key"] for label in sandbox.dump()["labels"]}
    cached_keys = set(Label.objects.values_list("key", flat=True))
    churned = set(memberships_before) - wix_keys
    assert churned, "the fault deleted labels in Wix during the pull"
    assert wix_keys <= cached_keys  # no label Wix still has was deleted here
    assert not pulled.deleted  # those deleted meanwhile had been seen: the next pull finds them
    assert {k: Label.objects.get(key=k).contacts.count() for k in wix_keys} == {
        k: memberships_before[k] for k in wix_keys
    }
    # The walk missed live labels (the pages shifted), and each was confirmed with a GET.
    confirmations = sandbox.stats()["byRoute"].get("GET /contacts/v4/labels/{key}", 0)
    assert confirmations >= len(churned)
    sandbox.set_faults("")
    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    assert_cache_equals_wix(sandbox)


def test_a_full_run_that_would_delete_much_of_the_cache_stops_and_asks(sandbox, sync_client):
    sandbox.reset(contacts=1000, labels=5, seed=25)
    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    gone = wix_contact_ids(sandbox)[:200]  # 20% of the cache, over the 10% default
    delete_in_wix(sandbox, gone)

    waiting = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)

    assert waiting.status == SyncRun.Status.WAITING
    assert "would delete 200 of the 1,000 cached contacts" in waiting.error
    assert "Nothing was deleted" in waiting.error
    assert Contact.objects.count() == 1000
    assert waiting.deletions.count() == 200

    confirmed = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client, allow_mass_delete=True)

    assert confirmed.status == SyncRun.Status.SUCCEEDED
    assert confirmed.contacts_deleted == 200
    confirmed.refresh_from_db()
    assert confirmed.contacts_deleted == 200  # saved, not only counted in memory
    assert_cache_equals_wix(sandbox)


def test_the_mass_delete_limit_is_a_setting(sandbox, sync_client, settings):
    settings.SYNC_MASS_DELETE_SHARE = 0.5
    sandbox.reset(contacts=500, labels=3, seed=26)
    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    delete_in_wix(sandbox, wix_contact_ids(sandbox)[:100])  # 20%: under the raised share

    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.contacts_deleted == 100


def test_a_contact_the_walk_missed_is_kept_and_refreshed(sandbox, sync_client, monkeypatch):
    """A second look finds a contact that Wix still has although the walk did not bring it."""
    sandbox.reset(contacts=300, labels=3, seed=27)
    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    hidden = wix_contact_ids(sandbox)[150]
    real_walk = sync_client.walk_contacts

    def walk_hiding_one(**kwargs):
        for page in real_walk(**kwargs):
            yield replace(page, contacts=tuple(c for c in page.contacts if c.id != hidden))

    monkeypatch.setattr(sync_client, "walk_contacts", walk_hiding_one)

    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.contacts_deleted == 0
    assert Contact.objects.filter(wix_id=hidden).exists()
    assert_cache_equals_wix(sandbox)


def test_the_command_refuses_mass_delete_without_full(db):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="goes with --full"):
        call_command("sync_wix", "--allow-mass-delete")


@pytest.mark.django_db(transaction=True)
def test_a_sync_killed_at_random_pages_under_short_pages_deletes_nothing_wix_has(
    sandbox, wix_settings, sync_client
):
    """A full sync over a complete cache, killed (SIGKILL) at random pages while Wix serves
    short pages and deletes a few contacts, then run again: the cache equals Wix every time it
    finishes, and nothing Wix still has was ever deleted."""
    sandbox.reset(contacts=1500, labels=8, seed=28)
    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    sandbox.set_faults("short_pages=70,latency=5-10ms", seed=2)  # slow enough to be caught
    gone = wix_contact_ids(sandbox)[::300]
    delete_in_wix(sandbox, gone)
    env = subprocess_env(wix_settings, SYNC_PAGE_SIZE="100")
    rng = random.Random(28)

    def nothing_wix_has_was_deleted() -> None:
        cached = set(Contact.objects.values_list("wix_id", flat=True))
        assert set(wix_contact_ids(sandbox)) <= cached, "a contact Wix still has was deleted"

    kill_full_syncs(env, sorted(rng.sample(range(1, 18), 3)), nothing_wix_has_was_deleted)

    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert SyncRun.objects.filter(status=SyncRun.Status.INTERRUPTED).exists()  # killed mid-run
    assert not Contact.objects.filter(wix_id__in=gone).exists()
    assert_cache_equals_wix(sandbox)


def test_a_confirmation_covers_only_as_many_as_the_person_was_shown(sandbox, sync_client):
    sandbox.reset(contacts=1000, labels=5, seed=29)
    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
    delete_in_wix(sandbox, wix_contact_ids(sandbox)[:400])  # far more than the page showed

    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client, allow_mass_delete=200)

    assert run.status == SyncRun.Status.WAITING
    assert Contact.objects.count() == 1000


def test_a_contact_stored_before_its_label_was_known_gets_it_from_the_next_sync(
    sandbox, sync_client
):
    """A label made in Wix that the cache has not pulled yet: the contact is written without
    it, one revision back, so the next sync (same revision in Wix) writes it in full."""
    from wixcache.store import contacts_store

    sandbox.reset(contacts=0, labels=0)
    fresh = sandbox.api("POST", "/contacts/v4/labels", json={"displayName": "Fresh"}).json()
    key = fresh["label"]["key"]
    made = sandbox.api(
        "POST", "/contacts/v4/contacts", json={"info": {"labelKeys": {"items": [key]}}}
    ).json()["contact"]
    [contact] = sync_client.find_contacts([made["id"]]).values()
    contacts_store([contact])  # no label pulled yet
    assert not Contact.objects.get(wix_id=made["id"]).labels.exists()

    sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)

    assert list(Contact.objects.get(wix_id=made["id"]).labels.values_list("key", flat=True)) == [
        key
    ]
    assert_cache_equals_wix(sandbox)


def test_a_label_deleted_here_during_a_pull_is_not_brought_back(
    synced, sandbox, sync_client, manager
):
    """The walk lists a label; a person deletes it (Wix, then the cache) before the walk ends.
    Found by the soak: the pull wrote the label back, a zombie with no contacts."""
    synced(contacts=60, labels=6, seed=31)
    victim = Label.objects.filter(key__startswith="custom.").order_by("key").first()
    walk = sync_client.iter_labels

    def walk_then_delete(*args, **kwargs):
        yield from walk(*args, **kwargs)  # every label listed, the victim among them
        label_delete(label=victim, expected_name=victim.display_name, user=manager)

    with patch.object(sync_client, "iter_labels", walk_then_delete):
        pulled = labels_pull(client=sync_client)

    assert not Label.objects.filter(key=victim.key).exists()
    assert victim.key not in pulled.ids_by_key
    assert not [label for label in pulled.created if label.key == victim.key]
    assert cache_state()[0] == wix_state(sandbox)[0]


def test_a_label_cached_after_the_walk_checked_is_not_deleted(
    synced, sandbox, sync_client, manager
):
    """A person makes a label after the walk and its 404 checks, before the pull writes: it is
    in Wix and here, and the pull must not delete it (with a "Deleted in Wix" history)."""
    synced(contacts=60, labels=6, seed=32)
    replace = sync_service.labels_replace
    made = []

    def create_then_replace(*args, **kwargs):
        made.append(label_create(display_name="Made meanwhile", user=manager)[0])
        return replace(*args, **kwargs)

    with patch.object(sync_service, "labels_replace", create_then_replace):
        pulled = labels_pull(client=sync_client)

    assert not pulled.deleted
    assert Label.objects.filter(key=made[0].key).exists()
    assert cache_state()[0] == wix_state(sandbox)[0]


def test_a_label_deleted_in_wix_is_still_deleted_by_the_pull(synced, sandbox, sync_client):
    """The two guards above take nothing from the pull's own work."""
    wix = synced(contacts=60, labels=6, seed=33)
    key = next(lb["key"] for lb in wix["labels"] if lb["key"].startswith("custom."))
    assert sandbox.api("DELETE", f"/contacts/v4/labels/{key}").ok

    pulled = labels_pull(client=sync_client)

    assert [label.key for label in pulled.deleted] == [key]
    assert not Label.objects.filter(key=key).exists()
    assert cache_state()[0] == wix_state(sandbox)[0]
