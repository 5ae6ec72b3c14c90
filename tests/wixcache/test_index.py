"""The label index against the membership table it mirrors: random writes of every kind (ORM,
raw SQL, cascades, updates), pruning, a reset database, and on PostgreSQL transactions that
commit out of the order their log rows were written in."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, connections, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wixcache import index as label_index_module
from wixcache.index import LabelIndex, index_check, index_prune, label_index
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db(transaction=True)
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_process():
    """Each test starts as a new process would: no bitmaps yet."""
    label_index_module._indexes.clear()
    yield
    label_index_module._indexes.clear()
    label_index_module._resting.clear()


def make_contacts(n: int, start: int = 0) -> list[Contact]:
    return Contact.objects.bulk_create(
        Contact(wix_id=f"c{i}", remote_created_at=WHEN, remote_updated_at=WHEN)
        for i in range(start, start + n)
    )


def make_labels(n: int) -> list[Label]:
    return [
        Label.objects.create(key=f"custom.l{i}", display_name=f"L{i}", namespace="custom")
        for i in range(n)
    ]


def table() -> tuple[dict[int, set[int]], set[int]]:
    labels: dict[int, set[int]] = {}
    for contact_id, label_id in ContactLabel.objects.values_list("contact_id", "label_id"):
        labels.setdefault(label_id, set()).add(contact_id)
    return labels, set(Contact.objects.values_list("pk", flat=True))


def assert_index_equals_table() -> LabelIndex:
    index = label_index()
    assert index is not None
    labels, everyone = table()
    assert set(index.everyone) == everyone
    have = {label_id: set(bitmap) for label_id, bitmap in index.labels.items() if bitmap}
    assert have == labels
    return index


def test_the_index_follows_every_kind_of_write():
    labels = make_labels(3)
    contacts = make_contacts(10)
    first = assert_index_equals_table()
    assert first.rebuilds == 1
    ContactLabel.objects.bulk_create(ContactLabel(contact=c, label=labels[0]) for c in contacts)
    ContactLabel.objects.create(contact=contacts[0], label=labels[1])
    assert_index_equals_table()
    # Raw SQL, an update of a membership, a cascade from a deleted contact and from a label.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO contacts_contactlabel (contact_id, label_id) VALUES (%s, %s)",
            [contacts[1].pk, labels[2].pk],
        )
    ContactLabel.objects.filter(contact=contacts[2], label=labels[0]).update(label=labels[1])
    contacts[3].delete()
    labels[0].delete()
    index = assert_index_equals_table()
    assert index.rebuilds == 1  # all of it from the log
    assert index_check() == []


def test_inside_a_transaction_the_index_does_not_answer():
    make_labels(1)
    with transaction.atomic():
        assert label_index() is None
    assert label_index() is not None


def test_missing_triggers_make_the_index_step_aside():
    make_labels(1)
    assert label_index() is not None
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER wixcache_index_contact_insert")
        else:
            cursor.execute("ALTER TABLE contacts_contact DISABLE TRIGGER wixcache_index_insert")
    try:
        assert label_index() is None
        assert index_check() == [
            "The index cannot be used: its database triggers are missing, or it failed."
        ]
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute(
                    "CREATE TRIGGER wixcache_index_contact_insert AFTER INSERT ON "
                    "contacts_contact BEGIN INSERT INTO wixcache_index_change "
                    "(contact_id, label_id, added, at) VALUES "
                    "(NEW.id, 0, 1, CAST(strftime('%s', 'now') AS integer)); END"
                )
            else:
                cursor.execute("ALTER TABLE contacts_contact ENABLE TRIGGER wixcache_index_insert")


def test_a_process_behind_a_prune_or_a_reset_database_builds_again():
    labels = make_labels(2)
    contacts = make_contacts(5)
    index = assert_index_equals_table()
    # Another process prunes everything, including rows this one has not read.
    ContactLabel.objects.create(contact=contacts[0], label=labels[0])
    assert index_prune(keep_seconds=-10) > 0
    ContactLabel.objects.create(contact=contacts[1], label=labels[1])
    index = assert_index_equals_table()
    assert index.rebuilds == 2
    # A flushed database (the state row gone) is a new epoch.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM wixcache_index_state")
    ContactLabel.objects.create(contact=contacts[2], label=labels[1])
    index = assert_index_equals_table()
    assert index.rebuilds == 3


# Emptying a table in one statement. SQLite has no TRUNCATE, and its truncate optimisation is
# off while a table has triggers: every row is logged, and the index follows the log. On
# PostgreSQL a DELETE is logged row by row too; a TRUNCATE logs one reset marker instead, and
# every process builds its bitmaps again. Memberships have no foreign key on PostgreSQL (wixcache
# migration 0013): a TRUNCATE of contacts names them, or is refused.
EMPTYING = {
    "sqlite": [("DELETE FROM contacts_contactlabel", 1)],
    "postgresql": [
        ("DELETE FROM contacts_contactlabel", 1),
        ("TRUNCATE contacts_contactlabel", 2),
        ("TRUNCATE contacts_contact, contacts_contactlabel CASCADE", 2),
    ],
}


@pytest.mark.parametrize(("statement", "builds"), EMPTYING[connection.vendor])
def test_a_table_emptied_in_one_statement_is_followed(statement, builds):
    labels = make_labels(2)
    contacts = make_contacts(3)
    ContactLabel.objects.bulk_create(
        ContactLabel(contact=c, label=label) for c in contacts for label in labels
    )
    assert_index_equals_table()
    with connection.cursor() as cursor:
        cursor.execute(statement)
    index = assert_index_equals_table()
    assert not any(index.labels.values())
    assert index.rebuilds == builds
    assert index_check() == []


writes = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "move", "raw-add", "delete-contact", "new-contact"]),
        st.integers(0, 29),
        st.integers(0, 4),
        st.booleans(),  # read the index after this write
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(writes=writes)
def test_random_writes_keep_the_index_equal_to_the_table(writes):
    ContactLabel.objects.all().delete()
    Contact.objects.all().delete()
    Label.objects.all().delete()
    labels = make_labels(5)
    contacts = make_contacts(30)
    assert_index_equals_table()
    for kind, c, lb, read in writes:
        contact = Contact.objects.filter(wix_id=f"c{c}").first()
        label = labels[lb]
        if kind == "new-contact":
            if contact is None:
                contacts += make_contacts(1, start=c)
        elif contact is None:
            continue
        elif kind == "add":
            ContactLabel.objects.get_or_create(contact=contact, label=label)
        elif kind == "remove":
            ContactLabel.objects.filter(contact=contact, label=label).delete()
        elif kind == "move":
            target = labels[(lb + 1) % len(labels)]
            if not ContactLabel.objects.filter(contact=contact, label=target).exists():
                ContactLabel.objects.filter(contact=contact, label=label).update(label=target)
        elif kind == "raw-add":
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO contacts_contactlabel (contact_id, label_id) VALUES (%s, %s) "
                    "ON CONFLICT DO NOTHING",
                    [contact.pk, label.pk],
                )
        elif kind == "delete-contact":
            contact.delete()
        if read:
            assert_index_equals_table()
    assert_index_equals_table()


def test_a_transaction_that_writes_first_and_commits_last_is_not_lost():
    """Transaction A writes first (the lower log id) and commits last. On PostgreSQL B writes
    and commits in between; SQLite writes one transaction at a time, so there B waits for A
    (and its ids are in commit order). Either way a reader in between sees nothing of A, and
    takes A's rows once A commits."""
    postgresql = connection.vendor == "postgresql"
    labels = make_labels(2)
    contacts = make_contacts(2)
    assert_index_equals_table()
    if postgresql:
        # The segment version's row (contacts migration 0003) would make B wait for A: take it
        # out of the way, so that the two transactions can really commit out of order.
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE contacts_contactlabel DISABLE TRIGGER contacts_segment_version_bump"
            )
    a_wrote, b_done, a_may_commit = threading.Event(), threading.Event(), threading.Event()
    errors = []

    def writer_a():
        try:
            with transaction.atomic():
                ContactLabel.objects.create(contact=contacts[0], label=labels[0])
                a_wrote.set()
                a_may_commit.wait(10)
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    def writer_b():
        try:
            a_wrote.wait(10)
            with transaction.atomic():
                ContactLabel.objects.create(contact=contacts[1], label=labels[1])
        except Exception as error:
            errors.append(error)
        finally:
            b_done.set()
            connections.close_all()

    a, b = threading.Thread(target=writer_a), threading.Thread(target=writer_b)
    a.start()
    b.start()
    try:
        assert a_wrote.wait(10)
        # PostgreSQL: B commits while A is open. SQLite: B is still waiting for A's lock.
        assert b_done.wait(10 if postgresql else 1) == postgresql
        index = label_index()
        assert set(index.label(labels[1].pk)) == ({contacts[1].pk} if postgresql else set())
        assert set(index.label(labels[0].pk)) == set()  # A has not committed
    finally:
        a_may_commit.set()
        a.join(10)
        b.join(10)
        if postgresql:
            with connection.cursor() as cursor:
                cursor.execute(
                    "ALTER TABLE contacts_contactlabel ENABLE TRIGGER contacts_segment_version_bump"
                )
    assert not errors
    index = assert_index_equals_table()
    assert set(index.label(labels[0].pk)) == {contacts[0].pk}
    assert set(index.label(labels[1].pk)) == {contacts[1].pk}
    assert index.rebuilds == 1
    assert index_check() == []


def test_the_command_builds_and_checks_the_index():
    from io import StringIO

    from django.core.management import call_command

    labels = make_labels(2)
    contacts = make_contacts(4)
    ContactLabel.objects.create(contact=contacts[0], label=labels[0])
    out = StringIO()
    call_command("label_index", "--check", "--prune", stdout=out)
    text = out.getvalue()
    assert "Built the index of 4 contacts and 1 labels" in text
    assert "agrees with the table" in text


def _another_connection():
    """A second PostgreSQL session on the test database, outside Django."""
    import psycopg

    settings_dict = connection.settings_dict
    return psycopg.connect(
        dbname=settings_dict["NAME"],
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"],
        host=settings_dict["HOST"],
        port=settings_dict["PORT"],
    )


def test_a_commit_landing_while_the_log_is_pruned_is_never_lost():
    """Pruning notes exactly what it deleted. On PostgreSQL a writer whose transaction began
    before the prune window commits just before the prune's statement runs: a reader that read
    while that writer was open must still end up with the writer's rows (here: by building
    again). SQLite writes one transaction at a time, so its writer commits before the prune."""
    labels = make_labels(1)
    contacts = make_contacts(3)
    assert_index_equals_table()
    if connection.vendor == "postgresql":
        slow = _another_connection()
        slow.execute(
            "INSERT INTO contacts_contactlabel (contact_id, label_id) VALUES (%s, %s)",
            [contacts[1].pk, labels[0].pk],
        )
        label_index()  # reads while the writer is open: its horizon is at the writer

        def commit_first(execute, sql, params, many, context):
            if "DELETE FROM wixcache_index_change" in sql:
                slow.commit()
            return execute(sql, params, many, context)

        with connection.execute_wrapper(commit_first):
            assert index_prune(keep_seconds=-10) > 0  # "older than the window": every row
        slow.close()
    else:
        label_index()
        ContactLabel.objects.create(contact=contacts[1], label=labels[0])
        assert index_prune(keep_seconds=-10) > 0
    index = assert_index_equals_table()
    assert set(index.label(labels[0].pk)) == {contacts[1].pk}
    assert index_check() == []


def test_a_process_started_after_the_log_was_pruned_empty_builds_once():
    labels = make_labels(1)
    contacts = make_contacts(2)
    ContactLabel.objects.create(contact=contacts[0], label=labels[0])
    assert index_prune(keep_seconds=-10) > 0  # a quiet site: the worker empties the log
    for _ in range(3):
        index = assert_index_equals_table()
    assert index.rebuilds == 1
    ContactLabel.objects.create(contact=contacts[1], label=labels[0])
    assert assert_index_equals_table().rebuilds == 1


def test_a_transaction_held_open_elsewhere_does_not_make_every_read_build_again():
    """On PostgreSQL an open transaction anywhere in the cluster (a backup, a job on another
    database, another test's worker) holds every snapshot's xmin, the readers' horizon, below
    the pruned rows: a reader built once after a prune, then again on every read. Only a prune
    since its last read sends it back; it still sees every write, pruned or not."""
    labels = make_labels(1)
    contacts = make_contacts(4)
    held = None
    if connection.vendor == "postgresql":
        held = _another_connection()
        held.execute("SELECT pg_current_xact_id()")  # an xid, open until the end
    try:
        assert_index_equals_table()
        ContactLabel.objects.create(contact=contacts[0], label=labels[0])
        assert index_prune(keep_seconds=-10) > 0
        builds = [assert_index_equals_table().rebuilds for _ in range(3)]
        assert builds == [2, 2, 2]  # the first and one after the prune
        ContactLabel.objects.create(contact=contacts[1], label=labels[0])
        assert assert_index_equals_table().rebuilds == 2  # read from the log
        label_index_module._indexes.clear()  # a process started now
        assert assert_index_equals_table().rebuilds == 1
        assert assert_index_equals_table().rebuilds == 1
        ContactLabel.objects.create(contact=contacts[2], label=labels[0])
        assert index_prune(keep_seconds=-10) > 0  # before this process read that row
        index = assert_index_equals_table()
        assert set(index.label(labels[0].pk)) == {c.pk for c in contacts[:3]}
    finally:
        if held is not None:
            held.close()


@pytest.fixture
def contact_ids_restored():
    """SQLite's AUTOINCREMENT keeps the highest id ever inserted, and a transactional test's
    flush does not reset it: without this, every later test in the process would make contacts
    past 2^32, and find the index resting."""
    yield
    Contact.objects.filter(pk__gt=2**31).delete()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE sqlite_sequence SET seq = (SELECT COALESCE(MAX(id), 0) FROM "
                "contacts_contact) WHERE name = 'contacts_contact'"
            )


@pytest.mark.usefixtures("contact_ids_restored")
def test_contact_ids_past_31_bits_are_indexed_and_past_32_bits_the_database_answers(client):
    """Ids run ahead of the number of contacts (every upsert takes a sequence value). Up to
    2^32 the bitmaps hold them; beyond, the index steps aside and the pages still answer."""
    labels = make_labels(1)
    big = Contact.objects.create(
        pk=2**31 + 7, wix_id="big", remote_created_at=WHEN, remote_updated_at=WHEN
    )
    ContactLabel.objects.create(contact=big, label=labels[0])
    assert big.pk in assert_index_equals_table().label(labels[0].pk)

    huge = Contact.objects.create(
        pk=2**32 + 7, wix_id="huge", remote_created_at=WHEN, remote_updated_at=WHEN
    )
    ContactLabel.objects.create(contact=huge, label=labels[0])
    assert label_index() is None  # logged, not raised
    assert label_index() is None  # and not tried again at once
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("boss", password=None))
    page = client.get("/admin/contacts/contact/", {"all": labels[0].key})
    assert page.status_code == 200
    assert "2 contacts" in page.content.decode()
