"""Saved audiences edited or deleted through the admin's own pages: one history entry each."""

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.urls import reverse

from contacts.models import Audience

pytestmark = pytest.mark.django_db


@pytest.fixture
def audiences(admin_user):
    return [
        Audience.objects.create(name=f"Audience {n}", rules={"all_of": []}, created_by=admin_user)
        for n in range(3)
    ]


def test_editing_writes_one_history_entry(admin_client, audiences):
    audience = audiences[0]
    response = admin_client.post(
        reverse("admin:contacts_audience_change", args=[audience.pk]),
        {"name": "Spring buyers", "description": "Bought in spring"},
    )
    assert response.status_code == 302
    audience.refresh_from_db()
    assert audience.name == "Spring buyers"
    assert LogEntry.objects.filter(object_id=str(audience.pk), action_flag=CHANGE).count() == 1


def test_deleting_one_or_many_writes_one_entry_each(admin_client, audiences):
    first, *rest = audiences
    admin_client.post(reverse("admin:contacts_audience_delete", args=[first.pk]), {"post": "yes"})
    admin_client.post(
        reverse("admin:contacts_audience_changelist"),
        {"action": "delete_selected", "_selected_action": [a.pk for a in rest], "post": "yes"},
    )
    assert not Audience.objects.exists()
    deleted = LogEntry.objects.filter(action_flag=DELETION)
    assert sorted(deleted.values_list("object_id", flat=True)) == sorted(
        str(a.pk) for a in audiences
    )
