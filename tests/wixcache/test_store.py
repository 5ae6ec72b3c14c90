"""The cache's only writers: labels and contacts stored as Wix answered them."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labelsite.wix.records import WixContact, WixLabel, records_from_json
from wixcache.models import Contact, ContactLabel, Label
from wixcache.store import (
    contacts_delete,
    contacts_store,
    label_ids_locked,
    label_store,
    labels_delete,
    labels_replace,
    memberships_add,
    memberships_remove,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def wix_label(key, name, *, updated=T0, label_type="USER_DEFINED", namespace="custom"):
    return WixLabel(
        key=key,
        display_name=name,
        label_type=label_type,
        namespace=namespace,
        created_date=T0 - timedelta(days=1),
        updated_date=updated,
    )


def wix_contact(contact_id, revision=1, keys=(), *, first="Ada", created=T0):
    [record] = records_from_json(
        [
            {
                "id": contact_id,
                "revision": revision,
                "createdDate": created.isoformat(),
                "updatedDate": (created + timedelta(minutes=revision)).isoformat(),
                "info": {
                    "name": {"first": first, "last": "Lovelace"},
                    "labelKeys": {"items": keys},
                },
                "primaryInfo": {"email": f"{contact_id}@example.com", "phone": "+1 555"},
            }
        ],
        WixContact,
    )
    return record


def memberships() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for wix_id, key in ContactLabel.objects.values_list("contact__wix_id", "label__key"):
        found.setdefault(wix_id, set()).add(key)
    return found


# --- label_store ------------------------------------------------------------------------------


def test_label_store_creates_a_new_label():
    stored = label_store(wix_label("custom.vip", "VIP"))
    assert (stored.created, stored.changed, stored.stale) == (True, False, False)
    assert stored.previous_name is None
    label = Label.objects.get(key="custom.vip")
    assert stored.label == label
    assert (label.display_name, label.label_type, label.namespace) == (
        "VIP",
        "USER_DEFINED",
        "custom",
    )
    assert label.remote_updated_at == T0


def test_label_store_changes_a_label_and_says_its_previous_name():
    label_store(wix_label("custom.vip", "VIP"))
    stored = label_store(wix_label("custom.vip", "V.I.P.", updated=T0 + timedelta(hours=1)))
    assert (stored.created, stored.changed, stored.stale) == (False, True, False)
    assert stored.previous_name == "VIP"
    label = Label.objects.get(key="custom.vip")
    assert label.display_name == "V.I.P."
    assert label.remote_updated_at == T0 + timedelta(hours=1)


def test_label_store_of_the_same_record_changes_nothing():
    label_store(wix_label("custom.vip", "VIP"))
    stored = label_store(wix_label("custom.vip", "VIP"))
    assert (stored.created, stored.changed, stored.stale) == (False, False, False)
    assert Label.objects.count() == 1


def test_label_store_ignores_a_record_older_than_the_cache():
    label_store(wix_label("custom.vip", "V.I.P.", updated=T0 + timedelta(hours=1)))
    stored = label_store(wix_label("custom.vip", "VIP", updated=T0))  # a late event
    assert (stored.created, stored.changed, stored.stale) == (False, False, True)
    assert Label.objects.get(key="custom.vip").display_name == "V.I.P."


def test_label_store_twice_for_a_new_key_makes_one_row():
    """A second store of a key made meanwhile (by a sync, a webhook or a person) updates the
    row the first made rather than failing on the unique key."""
    first = label_store(wix_label("custom.vip", "VIP"))
    second = label_store(wix_label("custom.vip", "VIP club", updated=T0 + timedelta(seconds=1)))
    assert (first.created, second.created) == (True, False)
    assert second.label.pk == first.label.pk
    assert second.previous_name == "VIP"
    assert list(Label.objects.values_list("key", "display_name")) == [("custom.vip", "VIP club")]


def test_label_store_after_a_concurrent_insert_updates_that_row(monkeypatch):
    """The race itself: the row appears between the locked read and the insert."""
    from wixcache import store

    other = Label.objects.create(key="custom.vip", display_name="VIP", namespace="custom")
    real_filter = Label.objects.select_for_update().filter
    calls = []

    class Manager:
        """First lookup misses (as if the other writer had not committed yet)."""

        def select_for_update(self):
            return self

        def filter(self, **kwargs):
            calls.append(kwargs)
            return Label.objects.none() if len(calls) == 1 else real_filter(**kwargs)

        def get(self, **kwargs):
            return Label.objects.select_for_update().get(**kwargs)

        def create(self, **kwargs):
            return Label.objects.create(**kwargs)

    class Proxy:
        objects = Manager()
        DoesNotExist = Label.DoesNotExist

    monkeypatch.setattr(store, "Label", Proxy)
    stored = label_store(wix_label("custom.vip", "VIP club"))
    assert not stored.created
    assert stored.label.pk == other.pk
    assert stored.previous_name == "VIP"
    assert list(Label.objects.values_list("display_name", flat=True)) == ["VIP club"]


# --- labels_replace ---------------------------------------------------------------------------


def test_labels_replace_creates_updates_and_deletes():
    label_store(wix_label("custom.keep", "Keep"))
    label_store(wix_label("custom.rename", "Old name"))
    gone = label_store(wix_label("custom.gone", "Gone")).label
    contact_pk = contacts_store([wix_contact("c1", keys=("custom.gone", "custom.keep"))]).pks["c1"]

    result = labels_replace(
        [
            wix_label("custom.keep", "Keep"),
            wix_label("custom.rename", "New name", updated=T0 + timedelta(hours=1)),
            wix_label("custom.new", "New"),
        ]
    )

    assert [label.key for label in result.created] == ["custom.new"]
    assert [(label.key, previous) for label, previous in result.updated] == [
        ("custom.rename", "Old name")
    ]
    assert [label.pk for label in result.deleted] == [gone.pk]
    assert result.ids_by_key == dict(Label.objects.values_list("key", "pk"))
    assert dict(Label.objects.values_list("key", "display_name")) == {
        "custom.keep": "Keep",
        "custom.rename": "New name",
        "custom.new": "New",
    }
    # The deleted label's memberships went with it; the others stayed.
    assert set(
        ContactLabel.objects.filter(contact_id=contact_pk).values_list("label__key", flat=True)
    ) == {"custom.keep"}


def test_labels_replace_with_the_same_list_changes_nothing():
    records = [wix_label("custom.a", "A"), wix_label("custom.b", "B")]
    labels_replace(records)
    again = labels_replace(records)
    assert (again.created, again.updated, again.deleted) == ([], [], [])
    assert Label.objects.count() == 2


def test_labels_delete_and_label_ids_locked():
    a = label_store(wix_label("custom.a", "A")).label
    b = label_store(wix_label("custom.b", "B")).label
    assert label_ids_locked(["custom.a", "custom.b", "custom.unknown"]) == {
        "custom.a": a.pk,
        "custom.b": b.pk,
    }
    labels_delete([a.pk])
    assert list(Label.objects.values_list("key", flat=True)) == ["custom.b"]


# --- contacts_store ---------------------------------------------------------------------------


def test_contacts_store_counts_created_updated_and_unchanged_by_revision():
    label_store(wix_label("custom.vip", "VIP"))
    first = contacts_store([wix_contact("c1"), wix_contact("c2"), wix_contact("c3")])
    assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
    assert set(first.pks) == {"c1", "c2", "c3"}

    second = contacts_store(
        [
            wix_contact("c1"),  # same revision: unchanged, whatever else it says
            wix_contact("c2", revision=2, first="Grace"),
            wix_contact("c3", first="Not stored"),
            wix_contact("c4"),
        ]
    )
    assert (second.created, second.updated, second.unchanged) == (1, 1, 2)
    assert second.pks["c1"] == first.pks["c1"]
    assert second.pks["c2"] == first.pks["c2"]
    names = dict(Contact.objects.values_list("wix_id", "first_name"))
    assert names == {"c1": "Ada", "c2": "Grace", "c3": "Ada", "c4": "Ada"}
    c2 = Contact.objects.get(wix_id="c2")
    assert (c2.revision, c2.last_name, c2.email, c2.phone) == (
        2,
        "Lovelace",
        "c2@example.com",
        "+1 555",
    )
    assert c2.remote_created_at == T0
    assert c2.remote_updated_at == T0 + timedelta(minutes=2)


def test_contacts_store_of_nothing_does_nothing():
    with CaptureQueriesContext(connection) as queries:
        result = contacts_store([])
    assert (result.created, result.updated, result.unchanged, result.pks) == (0, 0, 0, {})
    assert len(queries) == 0


def test_contacts_store_sets_memberships_by_difference():
    for key in ("custom.a", "custom.b", "custom.c"):
        label_store(wix_label(key, key[-1].upper()))
    contacts_store([wix_contact("c1", 1, ("custom.a", "custom.b")), wix_contact("c2", 1)])
    kept = ContactLabel.objects.get(contact__wix_id="c1", label__key="custom.a").pk
    assert memberships() == {"c1": {"custom.a", "custom.b"}}

    contacts_store(
        [wix_contact("c1", 2, ("custom.a", "custom.c")), wix_contact("c2", 2, ("custom.b",))]
    )

    assert memberships() == {"c1": {"custom.a", "custom.c"}, "c2": {"custom.b"}}
    # The membership both sets share was left alone, not deleted and written again.
    assert ContactLabel.objects.get(contact__wix_id="c1", label__key="custom.a").pk == kept


def searched(word: str) -> set[int]:
    """The contacts whose searchable text holds `word`, by the search index itself."""
    sql = {
        "sqlite": "SELECT rowid FROM wixcache_contact_search WHERE text LIKE %s",
        "postgresql": "SELECT id FROM contacts_contact WHERE lower(first_name || ' ' || "
        "last_name || ' ' || email || ' ' || phone) LIKE %s",
    }[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(sql, [f"%{word}%"])
        return {pk for (pk,) in cursor.fetchall()}


def test_the_search_index_follows_names_and_is_left_alone_when_only_labels_change():
    for key in ("custom.a", "custom.b"):
        label_store(wix_label(key, key[-1].upper()))
    pk = contacts_store([wix_contact("c1", 1, ("custom.a",), first="Ada")]).pks["c1"]
    sqlite = connection.vendor == "sqlite"
    if sqlite:
        # Mark SQLite's search row, to see whether a store writes it again.
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE wixcache_contact_search SET text = 'marked' WHERE rowid = %s", [pk]
            )

    contacts_store([wix_contact("c1", 2, ("custom.b",), first="Ada")])  # labels only

    assert memberships() == {"c1": {"custom.b"}}
    assert searched("marked" if sqlite else "ada") == {pk}  # SQLite: not written again

    contacts_store([wix_contact("c1", 3, ("custom.a",), first="Grace")])

    assert memberships() == {"c1": {"custom.a"}}
    assert searched("grace") == {pk}
    assert searched("marked") == searched("ada") == set()


def test_contacts_store_unchanged_revision_keeps_memberships():
    label_store(wix_label("custom.a", "A"))
    label_store(wix_label("custom.b", "B"))
    contacts_store([wix_contact("c1", 3, ("custom.a",))])
    contacts_store([wix_contact("c1", 3, ("custom.b",))])  # same revision: not read again
    assert memberships() == {"c1": {"custom.a"}}


def test_an_older_revision_never_takes_a_contact_back():
    """A sync page read before a webhook stored a newer revision arrives after it."""
    label_store(wix_label("custom.a", "A"))
    label_store(wix_label("custom.b", "B"))
    contacts_store([wix_contact("c1", 5, ("custom.b",), first="New")])

    stored = contacts_store([wix_contact("c1", 4, ("custom.a",), first="Old")])

    assert (stored.created, stored.updated, stored.unchanged) == (0, 0, 1)
    assert Contact.objects.get(wix_id="c1").first_name == "New"
    assert memberships() == {"c1": {"custom.b"}}


def test_the_upsert_itself_refuses_an_older_revision_written_meanwhile(monkeypatch):
    """The revision read before the upsert can be stale by the time it runs: the database's
    own check keeps the newer row and its memberships."""
    from wixcache import store

    label_store(wix_label("custom.a", "A"))
    label_store(wix_label("custom.b", "B"))
    contacts_store([wix_contact("c1", 5, ("custom.b",), first="New")])
    monkeypatch.setattr(store, "_existing_contacts", lambda wix_ids: {})  # a stale read

    contacts_store([wix_contact("c1", 4, ("custom.a",), first="Old")])

    assert Contact.objects.get(wix_id="c1").first_name == "New"
    assert memberships() == {"c1": {"custom.b"}}


def test_contacts_store_ignores_label_keys_the_cache_does_not_know():
    label_store(wix_label("custom.a", "A"))
    result = contacts_store([wix_contact("c1", 1, ("custom.a", "custom.unknown"))])
    assert result.created == 1
    assert memberships() == {"c1": {"custom.a"}}
    assert not Label.objects.filter(key="custom.unknown").exists()


def test_a_label_deleted_here_gets_no_memberships():
    label_store(wix_label("custom.a", "A"))
    gone = label_store(wix_label("custom.gone", "Gone")).label
    labels_delete([gone.pk])  # deleted here while Wix's answer was on its way
    contacts_store([wix_contact("c1", 1, ("custom.a", "custom.gone"))])
    assert memberships() == {"c1": {"custom.a"}}
    assert not Label.objects.filter(key="custom.gone").exists()


def test_contacts_store_costs_the_same_statements_for_many_contacts():
    for key in ("custom.a", "custom.b"):
        label_store(wix_label(key, key))

    def page(n, revision):
        return [
            wix_contact(f"c{i:04d}", revision, ("custom.a", "custom.b")[: i % 3]) for i in range(n)
        ]

    with CaptureQueriesContext(connection) as few:
        contacts_store(page(5, 1))
    with CaptureQueriesContext(connection) as many:
        contacts_store([*page(5, 1), *page(400, 1)[5:]])
    assert len(many) <= len(few)
    assert Contact.objects.count() == 400


# --- contacts_delete and memberships ----------------------------------------------------------


def test_contacts_delete_removes_contacts_and_their_memberships():
    label_store(wix_label("custom.a", "A"))
    pks = contacts_store(
        [wix_contact("c1", 1, ("custom.a",)), wix_contact("c2", 1, ("custom.a",))]
    ).pks
    assert contacts_delete([pks["c1"]]) == 1
    assert list(Contact.objects.values_list("wix_id", flat=True)) == ["c2"]
    assert memberships() == {"c2": {"custom.a"}}
    assert Label.objects.filter(key="custom.a").exists()


def test_memberships_add_skips_what_exists_and_remove_removes():
    a = label_store(wix_label("custom.a", "A")).label
    b = label_store(wix_label("custom.b", "B")).label
    pks = contacts_store([wix_contact("c1", 1, ("custom.a",)), wix_contact("c2")]).pks
    contact_pks = [pks["c1"], pks["c2"]]

    memberships_add(contact_pks=contact_pks, label_pks=[a.pk, b.pk])
    assert memberships() == {"c1": {"custom.a", "custom.b"}, "c2": {"custom.a", "custom.b"}}

    memberships_remove(contact_pks=[pks["c1"]], label_pks=[a.pk])
    assert memberships() == {"c1": {"custom.b"}, "c2": {"custom.a", "custom.b"}}


def test_every_membership_writer_takes_the_one_lock_first():
    """Version row, then labels, then memberships: the order that keeps a sync page and a bulk
    job from deadlocking on PostgreSQL (SQLite runs one writer at a time and takes none)."""
    label = label_store(wix_label("custom.a", "A")).label
    writers = {
        "contacts_store": lambda: contacts_store([wix_contact("c1", 1, ("custom.a",))]),
        "labels_replace": lambda: labels_replace([wix_label("custom.a", "A")]),
        "labels_delete": lambda: labels_delete([label.pk]),
    }
    for name, write in writers.items():
        with CaptureQueriesContext(connection) as queries:
            write()
        first = next(q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"])
        locked = "contacts_segment_version" in first and "FOR UPDATE" in first
        assert locked == (connection.vendor == "postgresql"), name
