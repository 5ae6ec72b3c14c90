"""A label deleted while Wix was answering about it stays deleted.

Wix's find-or-create answers with a label it has; before the answer is stored, someone deletes
that label (in Wix, then here). Storing the answer would bring the label back into the cache,
a label Wix no longer has (the soak found such a label on PostgreSQL). The person who asked is
told instead, and nothing is made.
"""

from unittest.mock import patch

import pytest
from django.urls import reverse

from contacts.models import Audience
from contacts.segments import SegmentRules
from contacts.services import audience_label_start
from journal.models import Operation
from labels.models import LabelJob
from labels.services import LabelError, LabelStale, label_create, label_delete
from labelsite.wix import WixClient
from tests.fixtures.sandbox_data import wix_label
from wixcache.models import Label

pytestmark = pytest.mark.django_db


@pytest.fixture
def deleted_while_answering(manager):
    """Wix's find-or-create, with the label it found deleted before the answer is stored."""
    find_or_create = WixClient.find_or_create_label

    def answer_then_delete(client, display_name):
        record, created = find_or_create(client, display_name)
        if not created:
            label = Label.objects.get(key=record.key)
            label_delete(label=label, expected_name=label.display_name, user=manager)
        return record, created

    with patch.object(WixClient, "find_or_create_label", answer_then_delete):
        yield


def a_user_label() -> Label:
    return Label.objects.filter(label_type=Label.Type.USER_DEFINED).order_by("key").first()


@pytest.mark.usefixtures("deleted_while_answering")
def test_creating_a_label_deleted_meanwhile_does_not_bring_it_back(synced, sandbox, manager):
    synced()
    label = a_user_label()

    with pytest.raises(LabelStale, match="deleted while you were asking for it"):
        label_create(display_name=label.display_name, user=manager)

    assert not Label.objects.filter(key=label.key).exists()
    assert wix_label(sandbox, label.key) is None
    op = Operation.objects.filter(kind=Operation.Kind.LABEL_CREATE).get()
    assert op.state == Operation.State.DONE
    assert "deleted meanwhile" in op.outcome


@pytest.mark.usefixtures("deleted_while_answering")
def test_an_audience_label_deleted_meanwhile_is_not_brought_back_nor_given(
    synced, sandbox, manager
):
    synced()
    label = a_user_label()
    audience = Audience.objects.create(
        name="All", rules=SegmentRules().as_json(), created_by=manager
    )

    with pytest.raises(LabelError, match="deleted while you were asking for it"):
        audience_label_start(audience=audience, label_name=label.display_name, user=manager)

    assert not Label.objects.filter(key=label.key).exists()
    assert not LabelJob.objects.filter(kind=LabelJob.Kind.AUDIENCE).exists()
    op = Operation.objects.filter(kind=Operation.Kind.AUDIENCE_LABEL).get()
    assert op.state == Operation.State.DONE


@pytest.mark.usefixtures("deleted_while_answering")
def test_the_audience_page_says_so_in_plain_words(synced, client, manager):
    synced()
    label = a_user_label()
    audience = Audience.objects.create(
        name="All", rules=SegmentRules().as_json(), created_by=manager
    )
    client.force_login(manager)

    response = client.post(
        reverse("admin:contacts_audience_wix_label_start", args=[audience.pk]),
        {"name": label.display_name},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert "it was deleted while you were asking for it" in response.content.decode()
    assert not Label.objects.filter(key=label.key).exists()


def test_a_label_made_anew_is_stored_even_after_deletions(synced, sandbox, manager):
    """The guard is for answers about labels Wix had; a label Wix makes now is new."""
    synced()
    label = a_user_label()
    label_delete(label=label, expected_name=label.display_name, user=manager)

    made, created = label_create(display_name=label.display_name, user=manager)

    assert created
    assert Label.objects.filter(key=made.key).exists()
    assert wix_label(sandbox, made.key)["displayName"] == label.display_name
