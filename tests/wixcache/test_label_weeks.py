"""A label's gained and lost per week (`wixcache.LabelWeek`, `label_weeks`): rolled up from the
label index's change log as the log is pruned, added to the log's rows not pruned yet, by the
week (Monday, UTC) each change was made, whoever made it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse

from tests.wixcache.test_index import make_contacts, make_labels
from wixcache.index import index_prune, label_weeks
from wixcache.models import ContactLabel, LabelWeek

pytestmark = pytest.mark.django_db


def _monday(weeks_ago: int):
    today = datetime.now(UTC).date()
    return today - timedelta(days=today.weekday(), weeks=weeks_ago)


def _age_log(label_id: int, *, weeks_ago: int) -> None:
    """Date the label's change log rows as written `weeks_ago` weeks back (its Wednesday)."""
    at = datetime.combine(_monday(weeks_ago) + timedelta(days=2), datetime.min.time(), UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE wixcache_index_change SET at = %s WHERE label_id = %s AND at > %s",
            [int(at.timestamp()), label_id, int(time.time()) - 3600],
        )


def test_weeks_add_what_pruning_rolled_up_to_what_the_log_still_holds():
    (label, other) = make_labels(2)
    contacts = make_contacts(10)
    # Three weeks ago: 6 gained, 2 of them lost again.
    ContactLabel.objects.bulk_create(ContactLabel(contact=c, label=label) for c in contacts[:6])
    ContactLabel.objects.filter(label=label, contact__in=contacts[:2]).delete()
    ContactLabel.objects.create(contact=contacts[0], label=other)  # another label's: not counted
    _age_log(label.pk, weeks_ago=3)
    # This week, not pruned yet: 3 gained, 1 lost.
    ContactLabel.objects.bulk_create(ContactLabel(contact=c, label=label) for c in contacts[6:9])
    ContactLabel.objects.filter(label=label, contact=contacts[2]).delete()

    pruned = index_prune(keep_seconds=24 * 3600)

    assert pruned == 8  # the label's 8 old rows; the other label's row and this week's stay
    assert list(LabelWeek.objects.values_list("label_id", "week", "gained", "lost")) == [
        (label.pk, _monday(3), 6, 2)
    ]
    weeks = label_weeks(label.pk, weeks=4)
    assert weeks == [(_monday(3), 6, 2), (_monday(2), 0, 0), (_monday(1), 0, 0), (_monday(0), 3, 1)]


def test_a_second_pruning_adds_to_the_same_week():
    (label,) = make_labels(1)
    contacts = make_contacts(5)
    ContactLabel.objects.bulk_create(ContactLabel(contact=c, label=label) for c in contacts[:2])
    _age_log(label.pk, weeks_ago=1)
    index_prune(keep_seconds=3600)
    ContactLabel.objects.bulk_create(ContactLabel(contact=c, label=label) for c in contacts[2:])
    ContactLabel.objects.filter(label=label, contact=contacts[0]).delete()
    _age_log(label.pk, weeks_ago=1)

    index_prune(keep_seconds=3600)

    assert LabelWeek.objects.get(label_id=label.pk).gained == 5
    assert LabelWeek.objects.get(label_id=label.pk).lost == 1
    assert label_weeks(label.pk, weeks=2)[0] == (_monday(1), 5, 1)


def test_the_label_page_shows_its_weeks_as_bars_and_as_a_table(client, synced, marketer):
    synced(contacts=30, labels=4)  # the first sync's memberships: this week's gains
    label = ContactLabel.objects.values_list("label__key", "label_id").order_by("label_id").first()
    gained = ContactLabel.objects.filter(label_id=label[1]).count()
    client.force_login(marketer)

    body = client.get(reverse("admin:labels_label_detail", args=[label[0]])).content.decode()

    assert "Gained and lost, week by week" in body
    assert f"{gained} gained, 0 lost" in body
    assert body.count('class="weeks-gained"') == 1  # one week with changes, one bar
    assert f"<td>{gained}</td><td>0</td>" in body
