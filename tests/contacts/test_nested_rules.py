"""Nested rules (`contacts.rules`) against an independent reading in Python sets: random trees of
labels, created dates, email, phone and saved audiences, ANDed with random flat rules, asked of
the database (inside a transaction) and of the label index, on whichever database runs the tests.

The Python side reads the JSON document itself, with its own recursion: it shares no code with
`contacts.rules.evaluate`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts import rules as nested
from contacts.models import Audience
from contacts.segments import SegmentRules
from contacts.selectors import (
    contact_count_for_segment,
    contact_list_for_segment,
    contact_page_for_segment,
    contact_rows_for_export,
    contact_wix_ids_for_change,
)
from tests.contacts.test_segments import KEYS, expected, population  # noqa: F401
from wixcache import index as index_module
from wixcache.models import Label

pytestmark = pytest.mark.django_db

START = datetime(2024, 1, 1, tzinfo=UTC)  # the population's first contact; one every 20 minutes
DAYS = [date(2023, 12, 31), date(2024, 1, 1), date(2024, 1, 2)]

labels = st.builds(
    lambda kind, key: {kind: key},
    st.sampled_from(["label", "label", "without"]),
    st.sampled_from([*KEYS, "custom.gone"]),
)
fields = st.one_of(
    st.builds(lambda has: {"has": has}, st.sampled_from(["email", "phone"])),
    st.builds(lambda days: {"created": {"days": days}}, st.sampled_from([1, 900, 36_600])),
    st.builds(
        lambda a, b: {"created": {k: v.isoformat() for k, v in (("from", a), ("to", b)) if v}},
        st.sampled_from([None, *DAYS]),
        st.sampled_from([None, *DAYS]),
    ).filter(
        lambda c: c["created"] and c["created"].get("from", "") <= c["created"].get("to", "9")
    ),
    st.builds(lambda i: {"audience": i}, st.sampled_from(["flat", "nested", "gone"])),
)
leaves = st.one_of(labels, labels, fields)
trees = st.recursive(
    leaves,
    lambda inner: st.builds(
        lambda op, items: {op: items}, st.sampled_from(nested.OPS), st.lists(inner, max_size=4)
    ),
    max_leaves=10,
).filter(lambda tree: depth(tree) <= nested.MAX_DEPTH)


def depth(node: dict) -> int:
    ((name, value),) = node.items()
    return 1 + max(map(depth, value), default=0) if name in nested.OPS else 0


def groups_only(tree: dict) -> dict:
    return tree if next(iter(tree)) in nested.OPS else {"all": [tree]}


class Reading:
    """The contacts a JSON rule document names, computed directly."""

    def __init__(self, contacts, memberships, audiences: dict[int, SegmentRules]) -> None:
        self.contacts, self.memberships, self.audiences = contacts, memberships, audiences
        self.now = timezone.now()
        self.saved: dict[tuple, set[int]] = {}  # an audience's members, read once

    def sound(self, node: dict, seen) -> bool:
        """Whether every saved audience the rule reaches exists and none leads back to itself:
        if not, the whole rule matches nobody (it must never match more than it would have)."""
        ((name, value),) = node.items()
        if name in nested.OPS:
            return all(self.sound(item, seen) for item in value if complete(item))
        if name != "audience":
            return True
        rules = self.audiences.get(value)
        if rules is None or value in seen:
            return False
        return rules.tree is None or self.sound(rules.tree.as_json(), (*seen, value))

    def members(self, rules: SegmentRules, seen=()) -> set[int]:
        if rules.tree is not None and not self.sound(rules.tree.as_json(), seen):
            return set()
        flat = {
            c.pk
            for c in self.contacts
            if c.wix_id in set(expected(rules, self.contacts, self.memberships))
        }
        if rules.tree is None:
            return flat
        return flat & {c.pk for c in self.contacts if self.matches(rules.tree.as_json(), c, seen)}

    def matches(self, node: dict, contact, seen) -> bool:
        ((name, value),) = node.items()
        match name:
            case "all":
                return all(self.matches(item, contact, seen) for item in value if complete(item))
            case "any":
                items = [item for item in value if complete(item)]
                return not items or any(self.matches(item, contact, seen) for item in items)
            case "none":
                return not any(
                    self.matches(item, contact, seen) for item in value if complete(item)
                )
            case "label":
                return value in self.memberships[contact.pk]
            case "without":
                return value not in self.memberships[contact.pk]
            case "has":
                return bool(getattr(contact, value))
            case "audience":
                rules = self.audiences.get(value)
                if rules is None or value in seen:
                    return False
                key = (value, seen)
                if key not in self.saved:
                    self.saved[key] = self.members(rules, (*seen, value))
                return contact.pk in self.saved[key]
        created = contact.remote_created_at
        if "days" in value:
            return created >= self.now - timedelta(days=value["days"])
        start, end = (date.fromisoformat(value[k]) if k in value else None for k in ("from", "to"))
        day = created.date()  # the site's time zone is UTC in the tests
        return (start is None or day >= start) and (end is None or day <= end)


def complete(node: dict) -> bool:
    """Whether a part counts: an empty group (all its parts left out) does not."""
    ((name, value),) = node.items()
    if name in nested.OPS:
        return any(complete(item) for item in value)
    return True


@pytest.fixture
def audiences(population):  # noqa: F811
    """Two saved audiences for rules to name: one flat, one nested (naming the flat one)."""
    flat = Audience.objects.create(name="Flat", rules=SegmentRules(all_of=(KEYS[0],)).as_json())
    inner = {"any": [{"label": KEYS[1]}, {"audience": flat.pk}]}
    nested_one = Audience.objects.create(
        name="Nested", rules=SegmentRules(tree=nested.from_document(inner)).as_json()
    )
    return {"flat": flat.pk, "nested": nested_one.pk, "gone": 999_999}


def resolve(document: dict, ids: dict[str, int]) -> dict:
    """The strategy's audience names as the fixture's ids."""
    ((name, value),) = document.items()
    if name in nested.OPS:
        return {name: [resolve(item, ids) for item in value]}
    return {"audience": ids[value]} if name == "audience" else document


flat_rules = st.builds(
    lambda a, n: SegmentRules(any_of=tuple(a), none_of=tuple(n)),
    st.lists(st.sampled_from(KEYS), max_size=2),
    st.lists(st.sampled_from(KEYS), max_size=1),
)


def check_rules(rules: SegmentRules, reading: Reading, contacts) -> None:
    want_pks = reading.members(rules)
    order = sorted(
        (c for c in contacts if c.pk in want_pks), key=lambda c: (c.remote_created_at, c.wix_id)
    )
    want = [c.wix_id for c in order]
    assert contact_count_for_segment(rules=rules) == len(want)
    assert contact_count_for_segment(rules=rules) == len(want)  # the count cache, where kept
    assert list(contact_list_for_segment(rules=rules).values_list("wix_id", flat=True)) == want
    assert [c.wix_id for c, _ in contact_rows_for_export(rules=rules, chunk_size=7)] == want
    seen, page = [], contact_page_for_segment(rules=rules, per_page=9)
    while True:
        seen += [c.wix_id for c in page.contacts]
        if not page.has_next:
            break
        page = contact_page_for_segment(rules=rules, per_page=9, after=page.next_cursor)
    assert seen == want
    gains = contact_wix_ids_for_change(rules=rules, add_ids=[Label.objects.get(key=KEYS[5]).pk])
    lacking = {c.wix_id for c in order if KEYS[5] not in reading.memberships[c.pk]}
    assert set(gains) == lacking


def test_nested_rules_match_python_sets_in_the_database(
    population,  # noqa: F811
    audiences,
):
    contacts, memberships = population
    reading = Reading(contacts, memberships, _saved(audiences))

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(tree=trees, flat=flat_rules)
    def check(tree, flat):
        document = groups_only(resolve(tree, audiences))
        rules = SegmentRules(
            any_of=flat.any_of, none_of=flat.none_of, tree=nested.from_document(document)
        )
        assert index_module.label_index() is None  # inside the test's transaction
        check_rules(rules, reading, contacts)

    check()


@pytest.mark.django_db(transaction=True)
def test_nested_rules_match_python_sets_through_the_label_index(
    population,  # noqa: F811
    audiences,
):
    contacts, memberships = population
    reading = Reading(contacts, memberships, _saved(audiences))
    index_module._indexes.clear()

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(tree=trees, flat=flat_rules)
    def check(tree, flat):
        document = groups_only(resolve(tree, audiences))
        rules = SegmentRules(
            any_of=flat.any_of, none_of=flat.none_of, tree=nested.from_document(document)
        )
        assert index_module.label_index() is not None
        check_rules(rules, reading, contacts)
        with transaction.atomic():  # and the database agrees, for the same rules
            assert contact_count_for_segment(rules=rules, cached=False) == len(
                reading.members(rules)
            )

    try:
        check()
    finally:
        index_module._indexes.clear()


def _saved(ids: dict[str, int]) -> dict[int, SegmentRules]:
    return {
        a.pk: SegmentRules.from_json(a.rules) for a in Audience.objects.filter(pk__in=ids.values())
    }
