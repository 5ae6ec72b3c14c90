"""A membership never outlives its contact or its label, whoever writes and however two writers
interleave. On PostgreSQL statement triggers check both (wixcache migration 0013) where foreign
keys checked each row at commit; SQLite keeps its foreign keys. The same tests hold for both."""

import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, connections, transaction

from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db(transaction=True)
WHEN = datetime(2026, 1, 1, tzinfo=UTC)
TABLES = {"contact": "contacts_contact", "label": "labels_label"}


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
        with pytest.raises(IntegrityError):
            with transaction.atomic():
                ContactLabel.objects.create(contact_id=contact_id, label_id=label_id)
    # One statement with one good row and one bad: the whole statement goes.
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            ContactLabel.objects.bulk_create(
                [
                    ContactLabel(contact_id=contact.pk, label_id=label.pk),
                    ContactLabel(contact_id=contact.pk + 1000, label_id=label.pk),
                ]
            )
    assert not ContactLabel.objects.exists()

    membership = ContactLabel.objects.create(contact=contact, label=label)
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            ContactLabel.objects.filter(pk=membership.pk).update(label_id=label.pk + 1000)
    membership.refresh_from_db()
    assert (membership.contact_id, membership.label_id) == (contact.pk, label.pk)


@pytest.mark.parametrize("parent", ["contact", "label"])
def test_a_contact_or_label_still_named_by_a_membership_cannot_go_or_change_its_id(
    parents, parent
):
    ContactLabel.objects.create(contact=parents["contact"], label=parents["label"])
    table, pk = TABLES[parent], parents[parent].pk
    with pytest.raises(IntegrityError):
        run_sql(f"DELETE FROM {table} WHERE id = %s", [pk])
    with pytest.raises(IntegrityError):
        run_sql(f"UPDATE {table} SET id = id + 1000 WHERE id = %s", [pk])
    # Emptying the whole table at once (PostgreSQL's TRUNCATE; SQLite has none).
    emptying = f"DELETE FROM {table}"
    if connection.vendor == "postgresql":
        emptying = f"TRUNCATE {table}" + (", sync_syncdeletion" if parent == "contact" else "")
    with pytest.raises(IntegrityError):
        run_sql(emptying, [])
    assert ContactLabel.objects.filter(**{parent: pk}).count() == 1

    # Memberships first, then the contact or label (Django's cascade): it goes.
    parents[parent].delete()
    assert not ContactLabel.objects.exists()
    assert not type(parents[parent]).objects.filter(pk=pk).exists()


def until_the_second_writer_waits() -> None:
    """Return once a transaction of this database waits for another's lock. SQLite writers
    queue for its one write lock, which cannot be watched: they run one after the other, so the
    outcome is the same whenever the second one started."""
    if connection.vendor == "sqlite":
        time.sleep(0.2)
        return
    for _ in range(400):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.025)
    pytest.fail("the second writer never waited for the first one's lock")


@pytest.mark.parametrize("first", ["membership", "deletion"])
@pytest.mark.parametrize("parent", ["contact", "label"])
def test_a_membership_and_the_deletion_of_its_parent_at_the_same_time_leave_no_orphan(
    parents, parent, first
):
    """Two transactions: one writes a membership, the other deletes its contact (or label),
    as raw SQL (no cascade). Whichever starts first and holds its transaction open while the
    other runs, the second one fails, and the first one's work stands."""
    table, pk = TABLES[parent], parents[parent].pk
    first_done, may_commit = threading.Event(), threading.Event()
    errors: dict[str, Exception] = {}

    def write_membership() -> None:
        ContactLabel.objects.create(contact=parents["contact"], label=parents["label"])

    def delete_parent() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE id = %s", [pk])

    steps = {"membership": write_membership, "deletion": delete_parent}
    second = "deletion" if first == "membership" else "membership"

    def first_writer() -> None:
        try:
            with transaction.atomic():
                steps[first]()
                first_done.set()
                may_commit.wait(10)
        except Exception as error:
            errors[first] = error
        finally:
            first_done.set()
            connections.close_all()

    def second_writer() -> None:
        try:
            first_done.wait(10)
            with transaction.atomic():
                steps[second]()
        except Exception as error:
            errors[second] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first_writer), threading.Thread(target=second_writer)]
    for thread in threads:
        thread.start()
    try:
        assert first_done.wait(10)
        until_the_second_writer_waits()
    finally:
        may_commit.set()
        for thread in threads:
            thread.join(30)

    assert list(errors) == [second]
    assert isinstance(errors[second], IntegrityError)
    parent_kept = type(parents[parent]).objects.filter(pk=pk).exists()
    assert parent_kept == (first == "membership")
    assert ContactLabel.objects.count() == (1 if first == "membership" else 0)
