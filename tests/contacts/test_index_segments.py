"""Audiences answered from the label index against the same audiences asked of the database
(inside a transaction the index steps aside, so `transaction.atomic()` gives the database's
answer): counts, every page in every order, forwards and back, for random rules and random
writes between the questions."""

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts import selectors
from contacts.segments import SegmentRules
from contacts.selectors import (
    contact_count_for_segment,
    contact_page_for_segment,
    contact_rows_for_export,
    contact_wix_ids_for_change,
)
from tests.contacts.test_segments import KEYS, SORTS, population, rules_strategy  # noqa: F401
from wixcache import index as index_module
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_process():
    index_module._indexes.clear()
    yield
    index_module._indexes.clear()


def walk(rules: SegmentRules, sort: str, per_page: int) -> tuple[list[str], list[str]]:
    """Every page forwards, then every page backwards from the last one."""
    forwards, page = [], contact_page_for_segment(rules=rules, per_page=per_page, sort=sort)
    pages = [page]
    while True:
        forwards += [c.wix_id for c in page.contacts]
        if not page.has_next:
            break
        page = contact_page_for_segment(
            rules=rules, per_page=per_page, sort=sort, after=page.next_cursor
        )
        pages.append(page)
    backwards = []
    while page.has_previous:
        page = contact_page_for_segment(
            rules=rules, per_page=per_page, sort=sort, before=page.previous_cursor
        )
        backwards = [c.wix_id for c in page.contacts] + backwards
    return forwards, backwards


def from_database(function, *args, **kwargs):
    with transaction.atomic():
        assert index_module.label_index() is None
        return function(*args, **kwargs)


write = st.tuples(st.integers(0, 69), st.sampled_from(KEYS), st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    rules=rules_strategy,
    per_page=st.sampled_from([1, 4, 25]),
    sort=st.sampled_from(SORTS),
    by_ids=st.sampled_from([0, 2000]),  # walk an order's index, or read the members by id
    writes=st.lists(write, max_size=6),
)
def test_the_index_answers_what_the_database_answers(
    population,  # noqa: F811
    rules,
    per_page,
    sort,
    by_ids,
    writes,
):
    labels = dict(Label.objects.values_list("key", "pk"))
    for number, key, add in writes:
        contact = Contact.objects.get(wix_id=f"c{number:03d}")
        if add:
            ContactLabel.objects.get_or_create(contact=contact, label_id=labels[key])
        else:
            ContactLabel.objects.filter(contact=contact, label_id=labels[key]).delete()
    assert index_module.label_index() is not None  # the answers below are the index's
    original = selectors.BY_IDS
    selectors.BY_IDS = by_ids
    try:
        count = contact_count_for_segment(rules=rules, cached=False)
        assert count == from_database(contact_count_for_segment, rules=rules, cached=False)
        forwards, backwards = walk(rules, sort, per_page)
        want_forwards, _ = from_database(walk, rules, sort, per_page)
    finally:
        selectors.BY_IDS = original
    assert forwards == want_forwards
    assert len(forwards) == count
    # The bulk selection and the export read the same answer.
    label_id = labels[KEYS[1]]
    add = contact_wix_ids_for_change(rules=rules, add_ids=[label_id])
    assert add == from_database(contact_wix_ids_for_change, rules=rules, add_ids=[label_id])
    remove = contact_wix_ids_for_change(rules=rules, remove_ids=[label_id])
    assert remove == from_database(contact_wix_ids_for_change, rules=rules, remove_ids=[label_id])
    exported = [
        (c.wix_id, names) for c, names in contact_rows_for_export(rules=rules, chunk_size=7)
    ]
    assert exported == from_database(
        lambda: [(c.wix_id, n) for c, n in contact_rows_for_export(rules=rules, chunk_size=7)]
    )
    assert len(exported) == count
    # Walking back from the last page gives every contact before it, in the same order.
    assert forwards[: len(backwards)] == backwards


@pytest.mark.parametrize("per_page", [25, 200])
@pytest.mark.parametrize("by_ids", [0, 2000])
def test_the_page_from_the_index_costs_a_few_queries_at_any_depth(
    admin_client,
    population,  # noqa: F811
    per_page,
    by_ids,
    monkeypatch,
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from tests.fixtures.users import HTMX

    monkeypatch.setattr(selectors, "BY_IDS", by_ids)
    page_url = reverse("admin:contacts_contact_changelist")
    query = f"?any={KEYS[0]}&any={KEYS[1]}&none={KEYS[4]}&per_page={per_page}&sort=name"
    admin_client.get(page_url + query)  # the session, the index built once
    ContactLabel.objects.filter(label__key=KEYS[5]).delete()  # a write: the index catches up
    with CaptureQueriesContext(connection) as full:
        first = admin_client.get(page_url + query)
    with CaptureQueriesContext(connection) as partial:
        admin_client.get(page_url + query, headers=HTMX)
    # Session, user, the labels named, the index's catch-up, the page (ids or a walk and the
    # rows), the chips: a fixed number, whatever the rows.
    assert len(full) <= 8, [q["sql"][:80] for q in full]
    assert len(partial) <= 8, [q["sql"][:80] for q in partial]
    assert first.context["page"].contacts
    if not first.context["next_url"]:
        return
    with CaptureQueriesContext(connection) as deeper:
        second = admin_client.get(first.context["next_url"], headers=HTMX)
    assert second.context["page"].contacts
    assert len(deeper) <= len(partial)


@pytest.mark.parametrize(
    "text", ["ann", "ANN", "smi", "an smith", "555", "@example", "bo", "x", "zzz", "ann li 555"]
)
def test_search_through_the_trigram_index_finds_what_each_field_contains(
    population,  # noqa: F811
    text,
    monkeypatch,
):
    # The same answers on SQLite (FTS5 trigram) and PostgreSQL (pg_trgm): both equal this.
    contacts, _ = population
    want = {
        c.pk
        for c in contacts
        if all(
            any(w in f.lower() for f in (c.first_name, c.last_name, c.email, c.phone))
            for w in text.lower().split()
        )
    }
    monkeypatch.setattr(selectors, "BY_IDS", 0)  # through the search index, not by id
    members = selectors.segment_members(SegmentRules(search=text), {})
    assert set(members) == want
    assert contact_count_for_segment(rules=SegmentRules(search=text)) == len(want)
