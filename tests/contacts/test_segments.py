"""Segment queries against an independent computation with Python sets, for random rules."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from contacts.forms import ContactPageForm
from contacts.segments import SegmentRules
from contacts.selectors import (
    SORT_KEYS,
    Cursor,
    contact_count_for_segment,
    contact_list_for_segment,
    contact_page_for_segment,
    contact_rows_for_export,
    contact_wix_ids_for_change,
    segment_version,
)
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db

KEYS = [f"custom.l{i}" for i in range(6)]
WORDS = ["ann", "bo", "smith", "example", "555", "x"]


@pytest.fixture
def population():
    rng = random.Random(5)
    labels = [Label.objects.create(key=k, display_name=k.upper(), namespace="custom") for k in KEYS]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    names = ["Ann", "Bob", "Anna", "Bo", "Carl"]
    contacts = Contact.objects.bulk_create(
        Contact(
            wix_id=f"c{i:03d}",
            first_name=rng.choice(names),
            last_name=rng.choice(["Smith", "Jones", "Li"]),
            # Every seventh has no email, so sorting by email puts a tied block last.
            email="" if i % 7 == 0 else f"user{i}@{rng.choice(['example.com', 'mail.org'])}",
            phone=rng.choice(["", "555-0101", "+1 212"]),
            # Some share a created instant, so the keyset's tie-break on wix_id is exercised.
            remote_created_at=start + timedelta(hours=i // 3),
            remote_updated_at=start,
        )
        for i in range(70)
    )
    weights = [0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    memberships = {c.pk: set() for c in contacts}
    rows = []
    for contact in contacts:
        for label, weight in zip(labels, weights, strict=True):
            if rng.random() < weight:
                memberships[contact.pk].add(label.key)
                rows.append(ContactLabel(contact=contact, label=label))
    ContactLabel.objects.bulk_create(rows)
    return contacts, memberships


def expected(rules: SegmentRules, contacts, memberships) -> list[str]:
    def matches(contact) -> bool:
        keys = memberships[contact.pk]
        fields = [contact.first_name, contact.last_name, contact.email, contact.phone]
        return (
            set(rules.all_of) <= keys
            and (not rules.any_of or bool(set(rules.any_of) & keys))
            and not set(rules.none_of) & keys
            and (not rules.unlabeled or not keys)
            and all(any(w.lower() in f.lower() for f in fields) for w in rules.search.split())
        )

    chosen = sorted(
        (c for c in contacts if matches(c)), key=lambda c: (c.remote_created_at, c.wix_id)
    )
    return [c.wix_id for c in chosen]


SORTS = ["created", "-created", "name", "-name", "email", "-email"]


def in_order(wix_ids: list[str], sort: str) -> list[str]:
    """These contacts in `sort` order, as the database orders the sort's key and then wix_id."""
    key = SORT_KEYS[sort.removeprefix("-")]
    order = (key.desc(), F("wix_id").desc()) if sort.startswith("-") else (key.asc(), "wix_id")
    ordered = Contact.objects.filter(wix_id__in=wix_ids).order_by(*order)
    return list(ordered.values_list("wix_id", flat=True))


key_lists = st.lists(st.sampled_from(KEYS), max_size=3)
rules_strategy = st.builds(
    SegmentRules,
    all_of=key_lists.map(tuple),
    any_of=key_lists.map(tuple),
    none_of=key_lists.map(tuple),
    unlabeled=st.booleans(),
    search=st.lists(st.sampled_from(WORDS), max_size=2).map(" ".join),
)


def test_segments_match_python_sets(population):
    contacts, memberships = population

    @settings(max_examples=150, deadline=None)
    @given(rules=rules_strategy, per_page=st.sampled_from([1, 4, 25]), sort=st.sampled_from(SORTS))
    def check(rules, per_page, sort):
        want = expected(rules, contacts, memberships)
        assert list(contact_list_for_segment(rules=rules).values_list("wix_id", flat=True)) == want
        # Asked twice: the second answer comes from the count cache.
        assert contact_count_for_segment(rules=rules) == len(want)
        assert contact_count_for_segment(rules=rules) == len(want)
        assert contact_count_for_segment(rules=rules, cached=False) == len(want)
        exported = list(contact_rows_for_export(rules=rules, chunk_size=per_page))
        assert [c.wix_id for c, _ in exported] == want
        assert all(names == sorted(k.upper() for k in memberships[c.pk]) for c, names in exported)
        # Walk every page forward by keyset in the chosen order, with both query shapes, then
        # one page back. The order is the database's (its collation), the members are Python's.
        want = in_order(want, sort)
        for count in (None, len(want)):
            seen, page = (
                [],
                contact_page_for_segment(rules=rules, per_page=per_page, count=count, sort=sort),
            )
            while True:
                seen += [c.wix_id for c in page.contacts]
                if not page.has_next:
                    break
                after = Cursor.parse(str(page.next_cursor), sort=sort.removeprefix("-"))
                page = contact_page_for_segment(
                    rules=rules, per_page=per_page, after=after, count=count, sort=sort
                )
            assert seen == want
            if len(want) > per_page:
                back = contact_page_for_segment(
                    rules=rules,
                    per_page=per_page,
                    before=page.previous_cursor,
                    count=count,
                    sort=sort,
                )
                start = len(want) - len(page.contacts) - per_page
                assert [c.wix_id for c in back.contacts] == want[max(start, 0) : start + per_page]

    check()


def counted(rules: SegmentRules) -> tuple[int, bool]:
    """The count, and whether it was counted by SQL rather than read from the cache."""
    with CaptureQueriesContext(connection) as queries:
        count = contact_count_for_segment(rules=rules)
    return count, any('"contacts_contact' in q["sql"] for q in queries)


def _add_membership(contacts, labels):
    ContactLabel.objects.create(contact=contacts[0], label=labels[KEYS[5]])


def _remove_memberships(contacts, labels):
    ContactLabel.objects.filter(label=labels[KEYS[0]], contact__in=contacts[:20]).delete()


def _raw_sql_membership(contacts, labels):  # as the sync writes
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO contacts_contactlabel (contact_id, label_id) VALUES (%s, %s)",
            [contacts[1].pk, labels[KEYS[4]].pk],
        )


def _rename_contact(contacts, labels):
    Contact.objects.filter(pk=contacts[2].pk).update(first_name="Zed", email="zed@example.com")


def _delete_contact(contacts, labels):
    Contact.objects.filter(pk__in=[c.pk for c in contacts[:5]]).delete()


def _delete_label(contacts, labels):
    labels[KEYS[1]].delete()


def _new_contact(contacts, labels):
    Contact.objects.create(
        wix_id="new",
        first_name="Ann",
        remote_created_at=contacts[0].remote_created_at,
        remote_updated_at=contacts[0].remote_updated_at,
    )


@pytest.mark.parametrize(
    "write",
    [
        _add_membership,
        _remove_memberships,
        _raw_sql_membership,
        _rename_contact,
        _delete_contact,
        _delete_label,
        _new_contact,
    ],
)
def test_cached_counts_follow_every_write(population, write):
    contacts, _ = population
    labels = {label.key: label for label in Label.objects.all()}
    everyone = [
        SegmentRules(),
        SegmentRules(all_of=(KEYS[0],), none_of=(KEYS[5],)),
        SegmentRules(any_of=(KEYS[1], KEYS[4])),
        SegmentRules(unlabeled=True),
        SegmentRules(search="ann"),
        SegmentRules(search="zed"),
    ]
    for rules in everyone:
        counted(rules)
        assert counted(rules)[1] is False, "the second count should come from the cache"
    version = segment_version()
    write(contacts, labels)
    assert segment_version() != version
    for rules in everyone:
        count, fresh = counted(rules)
        assert fresh
        assert count == contact_count_for_segment(rules=rules, cached=False)


def test_contact_updates_outside_the_searched_fields_keep_the_cache(population):
    contacts, _ = population
    rules = SegmentRules(search="ann")
    counted(rules)
    Contact.objects.filter(pk=contacts[0].pk).update(revision=7)
    if connection.vendor == "sqlite":  # PostgreSQL's statement trigger does not look at columns
        assert counted(rules)[1] is False


def test_no_caching_without_the_triggers(population):
    rules = SegmentRules(all_of=(KEYS[0],))
    drop = {
        "sqlite": "DROP TRIGGER contacts_segment_version_contactlabel_insert",
        "postgresql": "DROP TRIGGER contacts_segment_version_bump ON contacts_contactlabel",
    }
    with connection.cursor() as cursor:
        cursor.execute(drop[connection.vendor])
    assert segment_version() is None
    assert counted(rules)[1]
    assert counted(rules)[1]


def test_change_preview_counts_only_contacts_that_change(population):
    contacts, memberships = population
    rules = SegmentRules(any_of=(KEYS[0], KEYS[1]))
    label_ids = dict(Label.objects.values_list("key", "pk"))
    matching = set(expected(rules, contacts, memberships))
    add = contact_wix_ids_for_change(rules=rules, add_ids=[label_ids[KEYS[2]]])
    want = {c.wix_id for c in contacts if c.wix_id in matching and KEYS[2] not in memberships[c.pk]}
    assert set(add) == want
    remove = contact_wix_ids_for_change(rules=rules, remove_ids=[label_ids[KEYS[3]]])
    assert set(remove) == {
        c.wix_id for c in contacts if c.wix_id in matching and KEYS[3] in memberships[c.pk]
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"after": "yesterday"}, "This page position is not valid."),
        ({"per_page": "9999"}, "Select a valid choice"),
        ({"page": "-3"}, "greater than or equal to 1"),
        ({"q": "x" * 500}, "at most 200 characters"),
    ],
)
def test_malformed_parameters_are_a_message(params, message):
    form = ContactPageForm(params)
    assert not form.is_valid()
    assert message in str(form.errors)


def test_unknown_label_keys_stay_in_their_rules_and_never_widen_them(population):
    form = ContactPageForm({"all": [KEYS[0], "custom.gone"], "none": ["custom.also-gone"]})
    assert form.is_valid()
    assert form.rules.all_of == (KEYS[0], "custom.gone")
    assert form.rules.unknown_keys == ("custom.also-gone", "custom.gone")
    assert contact_count_for_segment(rules=form.rules) == 0


@pytest.mark.parametrize(
    ("sort", "index"),
    [
        ("-created", "contact_created_idx"),
        ("name", "contact_sort_name_idx"),
        ("-email", "contact_sort_email_idx"),
    ],
)
def test_each_sort_seeks_its_own_index_from_the_cursor(sort, index):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    Contact.objects.bulk_create(
        Contact(
            wix_id=f"w{i:04d}",
            first_name=f"n{i}",
            email=f"e{i}@x.test",
            remote_created_at=start + timedelta(minutes=i),
            remote_updated_at=start,
        )
        for i in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    first = contact_page_for_segment(rules=SegmentRules(), sort=sort)
    with CaptureQueriesContext(connection) as queries:
        contact_page_for_segment(rules=SegmentRules(), sort=sort, after=first.next_cursor)
    explain = "EXPLAIN " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
    with connection.cursor() as cursor:
        cursor.execute(explain + queries.captured_queries[-1]["sql"])
        plan = " ".join(str(row) for row in cursor.fetchall())
    # A seek into the index (SQLite's SEARCH, PostgreSQL's Index Cond), not a scan of it.
    if connection.vendor == "sqlite":
        assert f"SEARCH contacts_contact USING INDEX {index}" in plan
    else:
        assert f"using {index} on contacts_contact" in plan
        assert "Index Cond" in plan
