"""Reads for the label pages: what a merge of the ticked labels would do."""

from datetime import UTC, datetime

import pytest

from labels.selectors import label_merge_plan
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def label(key, name, *, system=False, members=()):
    made = Label.objects.create(
        key=key,
        display_name=name,
        namespace="contacts" if system else "custom",
        label_type=Label.Type.SYSTEM if system else Label.Type.USER_DEFINED,
    )
    ContactLabel.objects.bulk_create(ContactLabel(contact=c, label=made) for c in members)
    return made


@pytest.fixture
def people():
    return Contact.objects.bulk_create(
        Contact(wix_id=f"c{i}", remote_created_at=WHEN, remote_updated_at=WHEN) for i in range(6)
    )


def test_the_ticked_target_is_chosen(people):
    small = label("custom.small", "Small", members=people[:1])
    big = label("custom.big", "Big", members=people[1:5])
    plan = label_merge_plan(ticked=[small, big], target=small)
    assert plan.target == small
    assert plan.sources == [big]
    assert plan.locked == []
    assert plan.gained == 4
    assert [(lb.key, lb.contact_count) for lb in plan.ticked] == [
        ("custom.big", 4),
        ("custom.small", 1),
    ]


def test_a_target_not_ticked_takes_every_ticked_label(people):
    # A label picked by name in the merge panel: every ticked label is merged into it.
    small = label("custom.small", "Small", members=people[:1])
    big = label("custom.big", "Big", members=people[1:5])
    other = label("custom.other", "Other", members=people[4:6])
    plan = label_merge_plan(ticked=[small, big], target=other)
    assert plan.target == other
    assert plan.sources == [big, small]
    assert plan.gained == 4  # people 0-3; person 4 has it already


def test_without_a_target_a_ticked_system_label_is_chosen(people):
    big = label("custom.big", "Big", members=people)
    system = label("contacts-customer", "Customers", system=True, members=people[:1])
    plan = label_merge_plan(ticked=[big, system])
    assert plan.target == system  # Wix cannot delete a system label, so it must stay
    assert plan.sources == [big]
    assert plan.locked == []
    assert plan.gained == 5


def test_without_a_target_or_a_system_label_the_most_used_is_chosen(people):
    a = label("custom.a", "A", members=people[:2])
    b = label("custom.b", "B", members=people[:5])
    c = label("custom.c", "C", members=people[4:])
    plan = label_merge_plan(ticked=[a, b, c])
    assert plan.target == b
    assert plan.sources == [a, c]  # most used first, a tie by name
    assert plan.gained == 1  # only c5 lacks B among the sources' members


def test_system_sources_are_listed_as_locked(people):
    user = label("custom.vip", "VIP", members=people[:3])
    customers = label("contacts-customer", "Customers", system=True, members=people[3:])
    contacts = label("contacts-contacted", "Contacted", system=True, members=people[:1])
    plan = label_merge_plan(ticked=[user, customers, contacts], target=user)
    assert plan.target == user
    assert set(plan.sources) == {customers, contacts}
    assert set(plan.locked) == {customers, contacts}
    assert plan.gained == 3  # c3..c5; c0 already has VIP
