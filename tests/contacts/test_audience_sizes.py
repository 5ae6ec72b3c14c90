"""An audience's size over time: counted by the worker's round and when saved, one row a day
with the day's range, drawn as a step line with a table."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from contacts.charts import sizes_chart
from contacts.models import Audience, AudienceSize
from contacts.segments import SegmentRules
from contacts.services import audience_sizes_record
from contacts.tasks import record_audience_sizes
from tests.fixtures.users import HTMX, make_user
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db


@pytest.fixture
def vips():
    vip = Label.objects.create(key="custom.vip", display_name="VIP", namespace="custom")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    people = Contact.objects.bulk_create(
        Contact(wix_id=f"s{i}", remote_created_at=start, remote_updated_at=start) for i in range(5)
    )
    ContactLabel.objects.bulk_create(ContactLabel(contact=p, label=vip) for p in people[:3])
    rules = SegmentRules(all_of=("custom.vip",)).as_json()
    return Audience.objects.create(name="VIPs", rules=rules), vip, people


def test_a_round_counts_each_audience_once_a_day_keeping_the_range(vips):
    audience, vip, people = vips
    everyone = Audience.objects.create(name="Everyone", rules={})
    assert audience_sizes_record() == 2
    ContactLabel.objects.create(contact=people[3], label=vip)
    ContactLabel.objects.create(contact=people[4], label=vip)
    ContactLabel.objects.filter(contact=people[0]).delete()
    assert audience_sizes_record(audience_ids=[audience.pk]) == 1
    row = AudienceSize.objects.get(audience=audience)
    assert (row.count, row.smallest, row.largest) == (4, 3, 4)
    assert AudienceSize.objects.get(audience=everyone).count == 5
    assert AudienceSize.objects.count() == 2  # one row per audience per day


def test_the_task_counts_and_queues_its_next_round(vips, settings):
    settings.AUDIENCE_SIZE_INTERVAL_SECONDS = 600
    assert record_audience_sizes.call() == "1 audience counted."
    assert AudienceSize.objects.get().count == 3
    assert DBTaskResult.objects.filter(task_path=record_audience_sizes.module_path).count() == 1
    call_command("schedule_syncs", stdout=io.StringIO())  # queued already: not twice
    assert DBTaskResult.objects.filter(task_path=record_audience_sizes.module_path).count() == 1


def test_the_chart_steps_from_day_to_day_up_to_today():
    today = date(2026, 3, 31)
    rows = [(date(2026, 3, 1), 10, 10, 10), (date(2026, 3, 11), 20, 5, 20)]
    chart = sizes_chart(rows, today=today, span=90)
    assert chart.first == date(2026, 3, 1)
    assert chart.top == 20
    a, b = chart.days
    assert a.y > b.y  # more contacts, higher on the chart
    assert chart.line.split() == [
        f"{a.x},{a.y}",
        f"{b.x},{a.y}",
        f"{b.x},{b.y}",
        f"{float(chart.width - 8)},{b.y}",
    ]
    assert b.said == "11 Mar 2026: 20 contacts (between 5 and 20 that day)"
    old = [(today - timedelta(days=200), 7, 7, 7), *rows]
    assert sizes_chart(old, today=today, span=90).first == today - timedelta(days=89)
    assert sizes_chart([], today=today) is None


def test_the_audience_page_panel_shows_the_chart_and_table(client, vips):
    audience, _vip, _people = vips
    url = reverse("admin:contacts_audience_sizes", args=[audience.pk])
    client.force_login(make_user("reader", "contacts.view_contact", "contacts.view_audience"))
    empty = client.get(url, headers=HTMX).content.decode()
    assert "Not counted yet" in empty
    audience_sizes_record()
    content = client.get(url, headers=HTMX).content.decode()
    assert "3 contacts now." in content
    assert 'role="img"' in content
    assert "<polyline" in content
    assert "<td>3</td>" in content
    page = client.get(reverse("admin:contacts_contact_changelist"), {"audience": audience.pk})
    assert url in page.content.decode()  # the panel that loads it
    client.force_login(make_user("contacts-only", "contacts.view_contact"))
    assert client.get(url, headers=HTMX).status_code == 403


def test_markup_in_an_audience_name_is_escaped_in_the_chart(admin_client, vips):
    audience, _vip, _people = vips
    audience.name = "<img src=x onerror=alert(1)>"
    audience.save()
    audience_sizes_record()
    url = reverse("admin:contacts_audience_sizes", args=[audience.pk])
    content = admin_client.get(url, headers=HTMX).content.decode()
    assert "<img src=x" not in content
    assert "&lt;img src=x" in content
