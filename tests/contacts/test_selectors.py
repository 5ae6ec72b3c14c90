"""Reads of contacts by audience rules: what "Save as Wix label" would do."""

from datetime import UTC, datetime, timedelta

import pytest

from contacts.segments import SegmentRules
from contacts.selectors import audience_label_preview
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def audience():
    """Ten contacts: the even ones VIP, the first three of those also Spring."""
    vip = Label.objects.create(key="custom.vip", display_name="VIP", namespace="custom")
    spring = Label.objects.create(key="custom.spring", display_name="Spring", namespace="custom")
    contacts = Contact.objects.bulk_create(
        Contact(
            wix_id=f"c{i}",
            remote_created_at=WHEN + timedelta(minutes=i),
            remote_updated_at=WHEN,
        )
        for i in range(10)
    )
    ContactLabel.objects.bulk_create(
        [ContactLabel(contact=c, label=vip) for c in contacts[::2]]
        + [ContactLabel(contact=c, label=spring) for c in contacts[::2][:3]]
    )
    return vip, spring


def test_a_new_label_would_go_to_the_whole_audience(audience):
    rules = SegmentRules(all_of=("custom.vip",))
    assert audience_label_preview(rules=rules, label=None) == (None, 5)


def test_an_existing_label_would_go_only_to_those_lacking_it(audience):
    vip, spring = audience
    rules = SegmentRules(all_of=("custom.vip",))
    assert audience_label_preview(rules=rules, label=spring) == (spring, 2)
    assert audience_label_preview(rules=rules, label=vip) == (vip, 0)


def test_the_preview_follows_the_rules(audience):
    _, spring = audience
    rules = SegmentRules(none_of=("custom.vip",))
    assert audience_label_preview(rules=rules, label=None) == (None, 5)
    assert audience_label_preview(rules=rules, label=spring) == (spring, 5)
    everyone = SegmentRules()
    assert audience_label_preview(rules=everyone, label=spring) == (spring, 7)
