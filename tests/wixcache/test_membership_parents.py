"""A membership never outlives its contact or its label, whoever writes and however two writers
interleave. On PostgreSQL statement triggers check both (wixcache migration 0013) where foreign
keys checked each row at commit; SQLite keeps its foreign keys. The same tests hold for both."""

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, connections, transaction

from tests.fixtures.waiting import wait_until
from wixcache.models import Contact, ContactLabel, Label
from wixcache.store import memberships_write_lock

pytestmark = pytest.mark.django_db(transaction=True)
WHEN = datetime(2026, 1, 1, tzinfo=UTC)
# Raw SQL on a contact or label, by name: no cascade to its memberships.
SQL = {
    "contact": {
        "delete": "DELETE FROM contacts_contact WHERE id = %s",
        "renumber": "UPDATE contacts_contact SET id = id + 1000 WHERE id = %s",
        # Emptying the table at once: PostgreSQL's TRUNCATE (SQLite has none).
        "sqlite": "DELETE FROM contacts_contact",
        "postgresql": "TRUNCATE contacts_contact, sync_syncdeletion",
    },
    "label": {
        "delete": "DELETE FROM labels_label WHERE id = %s",
        "renumber": "UPDATE labels_label SET id = id + 1000 WHERE id = %s",
        "sqlite": "DELETE FROM labels_label",
        "postgresql": "TRUNCATE labels_label",
    },
}


@pytest.fixture
def parents() -> dict[str, Contact | Label]:
    return {
        "contact": Contact.objects.create(
            wix_id="c-1", revision=1, remote_created_at=WHEN, remote_updated_at=WHEN
        ),
        "label": Label.objects.create(key="custom.vip", display_name="VIP"),
    }


def run_sql(sql: str, params: list) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_a_membership_naming_a_missing_contact_or_label_is_refused(parents):
    contact, label = parents["contact"], parents["label"]
    for contact_id, label_id in ((contact.pk + 1000, label.pk), (contact.pk, label.pk + 1000)):
        with pytest.raises(IntegrityError), transaction.atomic():
            ContactLabel.objects.create(contact_id=contact_id, label_id=label_id)
    # One statement with one good row and one bad: the whole statement goes.
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactLabel.objects.bulk_create(
            [
                ContactLabel(contact_id=contact.pk, label_id=label.pk),
                ContactLabel(contact_id=contact.pk + 1000, label_id=label.pk),
            ]
        )
    assert not ContactLabel.objects.exists()

    membership = ContactLabel.objects.create(contact=contact, label=label)
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactLabel.objects.filter(pk=membership.pk).update(label_id=label.pk + 1000)
    membership.refresh_from_db()
    assert (membership.contact_id, membership.label_id) == (contact.pk, label.pk)


@pytest.mark.parametrize("parent", ["contact", "label"])
def test_a_contact_or_label_still_named_by_a_membership_cannot_go_or_change_its_id(parents, parent):
    ContactLabel.objects.create(contact=parents["contact"], label=parents["label"])
    pk = parents[parent].pk
    with pytest.raises(IntegrityError):
        run_sql(SQL[parent]["delete"], [pk])
    with pytest.raises(IntegrityError):
        run_sql(SQL[parent]["renumber"], [pk])
    with pytest.raises(IntegrityError):
        run_sql(SQL[parent][connection.vendor], [])
    assert ContactLabel.objects.filter(**{parent: pk}).count() == 1

    # Memberships first, then the contact or label (Django's cascade): it goes.
    parents[parent].delete()
    assert not ContactLabel.objects.exists()
    assert not type(parents[parent]).objects.filter(pk=pk).exists()


def until_the_second_writer_waits() -> None:
    """Return once a transaction of this database waits for another's lock. SQLite writers
    queue for its one write lock, which cannot be watched: they run one after the other, so the
    outcome is the same whenever the second one starts, and there is nothing to wait for."""
    if connection.vendor == "sqlite":
        return

    def waiting() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0]

    wait_until(waiting, timeout=10, what="the second writer to wait for the first one's lock")


def two_writers(first: list[Callable[[], None]], second: Callable[[], None]) -> dict:
    """Run `first`'s steps in one transaction and `second` in another, on two connections:
    `second` starts after `first`'s first step, and `first` goes on (and commits) once `second`
    waits for it. Returns what each raised, by name."""
    paused, may_go_on = threading.Event(), threading.Event()
    errors: dict[str, Exception] = {}

    def run_first() -> None:
        try:
            with transaction.atomic():
                first[0]()
                paused.set()
                may_go_on.wait(10)
                for step in first[1:]:
                    step()
        except Exception as error:
            errors["first"] = error
        finally:
            paused.set()
            connections.close_all()

    def run_second() -> None:
        try:
            paused.wait(10)
            with transaction.atomic():
                second()
        except Exception as error:
            errors["second"] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for thread in threads:
        thread.start()
    try:
        assert paused.wait(10)
        until_the_second_writer_waits()
    finally:
        may_go_on.set()
        for thread in threads:
            thread.join(30)
    return errors


@pytest.mark.parametrize("first", ["membership", "deletion"])
@pytest.mark.parametrize("parent", ["contact", "label"])
def test_a_membership_and_the_deletion_of_its_parent_at_the_same_time_leave_no_orphan(
    parents, parent, first
):
    """Two transactions: one writes a membership, the other deletes its contact (or label),
    as raw SQL (no cascade). Whichever starts first and holds its transaction open while the
    other runs, the second one fails, and the first one's work stands."""
    pk = parents[parent].pk

    def write_membership() -> None:
        ContactLabel.objects.create(contact=parents["contact"], label=parents["label"])

    def delete_parent() -> None:
        run_sql(SQL[parent]["delete"], [pk])

    steps = {"membership": write_membership, "deletion": delete_parent}
    second = "deletion" if first == "membership" else "membership"
    errors = two_writers([steps[first]], steps[second])

    assert list(errors) == ["second"]
    assert isinstance(errors["second"], IntegrityError)
    parent_kept = type(parents[parent]).objects.filter(pk=pk).exists()
    assert parent_kept == (first == "membership")
    assert ContactLabel.objects.count() == (1 if first == "membership" else 0)


def test_a_writer_outside_the_lock_order_is_refused_not_deadlocked(parents):
    """`contacts_delete` takes the memberships write lock, deletes a contact's memberships,
    then the contact. A membership written meanwhile by code that skipped that lock (a shell,
    a script) waits for the lock (PostgreSQL's segment-version trigger fires before the parent
    check) and is then refused: it must not hold the contact while waiting, which would be a
    deadlock with the deletion."""
    contact, label = parents["contact"], parents["label"]
    other = Label.objects.create(key="custom.new", display_name="New")
    ContactLabel.objects.create(contact=contact, label=label)
    errors = two_writers(
        [
            lambda: (
                memberships_write_lock(),
                ContactLabel.objects.filter(contact=contact).delete(),
            ),
            lambda: run_sql(SQL["contact"]["delete"], [contact.pk]),
        ],
        lambda: ContactLabel.objects.create(contact=contact, label=other),
    )

    assert list(errors) == ["second"]
    assert isinstance(errors["second"], IntegrityError)
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert not ContactLabel.objects.exists()


def test_each_database_has_its_checks():
    """SQLite: both foreign keys (a later rebuild of the table from Django's state keeps them).
    PostgreSQL: no foreign keys, the statement triggers, the insert and update checks firing
    after the segment-version trigger (which takes the lock order's first lock)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA foreign_key_list(contacts_contactlabel)")
            assert sorted((row[2], row[3]) for row in cursor.fetchall()) == [
                ("contacts_contact", "contact_id"),
                ("labels_label", "label_id"),
            ]
            return
        cursor.execute(
            "SELECT COUNT(*) FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid = 'contacts_contactlabel'::regclass"
        )
        assert cursor.fetchone()[0] == 0
        cursor.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger AS t JOIN pg_class AS c "
            "ON c.oid = t.tgrelid WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' "
            "AND c.relname IN ('contacts_contactlabel', 'contacts_contact', 'labels_label') "
            "ORDER BY c.relname, t.tgname"
        )
        triggers = cursor.fetchall()
    names = {name for _table, name in triggers}
    for table in ("contacts_contact", "labels_label"):
        assert {f"{table}_memberships_gone", f"{table}_id_kept", f"{table}_truncated"} <= names
    on_memberships = [name for table, name in triggers if table == "contacts_contactlabel"]
    for event in ("insert", "update"):
        assert on_memberships.index("contacts_segment_version_bump") < on_memberships.index(
            f"memberships_parents_{event}"
        )
