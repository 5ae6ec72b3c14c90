"""What a webhook must prove before it changes the cache, and what it must not do while it runs:
another app instance's events are ignored, tokens need a current `iat` and `exp`, entities come
as objects or as JSON strings, and no Wix request happens while the webhook is answered."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from contacts.living import living_pass_nudged, living_pass_queue
from sync.models import WebhookEvent
from sync.tasks import labels_pull_for_contacts
from tests.fixtures.webhooks import post_webhook, signed
from wixcache.models import Contact, Label
from wixcache.store import labels_delete

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_key")]


LABEL = {
    "key": "custom.vip",
    "displayName": "VIP",
    "namespace": "custom",
    "labelType": "USER_DEFINED",
    "createdDate": "2025-01-01T00:00:00.000Z",
    "updatedDate": "2025-01-01T00:00:00.000Z",
}


def test_another_app_instances_event_changes_nothing(client):
    token = signed(
        "wix.contacts.v4.label_created",
        "custom.vip",
        slug="created",
        entity=LABEL,
        instance_id="someone-elses-site",
    )
    response = post_webhook(client, token)
    assert response.status_code == 200
    assert response.json() == {"outcome": "ignored: another app instance"}
    assert not Label.objects.exists()
    assert not WebhookEvent.objects.exists()  # not even recorded: it is not about this site


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": None}, 'Token is missing the "exp" claim'),
        ({"iat": None}, 'Token is missing the "iat" claim'),
        ({"exp": int(time.time()) - 3600}, "Signature has expired"),
        ({"iat": int(time.time()) + 3600}, "The token is not yet valid (iat)"),
    ],
)
def test_a_token_without_a_current_iat_and_exp_is_refused(client, claims, reason):
    token = signed(
        "wix.contacts.v4.label_created", "custom.vip", slug="created", entity=LABEL, claims=claims
    )
    response = post_webhook(client, token)
    assert response.status_code == 401
    assert reason in response.content.decode()
    assert not Label.objects.exists()


def test_an_entity_as_an_object_is_read_like_a_json_string(client):
    as_string = signed("wix.contacts.v4.label_created", "custom.vip", slug="created", entity=LABEL)
    assert post_webhook(client, as_string).json()["outcome"] == "label created"
    renamed = {**LABEL, "displayName": "VIP 2", "updatedDate": "2025-03-01T00:00:00.000Z"}
    as_object = signed(
        "wix.contacts.v4.label_updated",
        "custom.vip",
        slug="updated",
        entity=renamed,
        as_object=True,
    )
    assert post_webhook(client, as_object).json()["outcome"] == "label updated"
    assert Label.objects.get(key="custom.vip").display_name == "VIP 2"


def test_a_webhook_asks_wix_nothing_even_for_an_unknown_label(
    client, sandbox, wix_settings, django_capture_on_commit_callbacks
):
    """Wix waits 1250 ms for the answer: a label unknown here is pulled by the worker later,
    which then stores the contact again with it."""
    known = sandbox.api("POST", "/contacts/v4/labels", json={"displayName": "Known"}).json()
    fresh = sandbox.api("POST", "/contacts/v4/labels", json={"displayName": "Brand New"}).json()
    known_key, fresh_key = known["label"]["key"], fresh["label"]["key"]
    Label.objects.create(key=known_key, display_name="Known", namespace="custom")
    entity = sandbox.api(
        "POST",
        "/contacts/v4/contacts",
        json={"info": {"name": {"first": "Ada"}, "labelKeys": {"items": [known_key, fresh_key]}}},
    ).json()["contact"]
    sandbox.reset_stats()
    token = signed("wix.contacts.v4.contact_created", entity["id"], slug="created", entity=entity)

    with django_capture_on_commit_callbacks() as callbacks:
        response = post_webhook(client, token)

    assert response.json()["outcome"] == "contact created"
    assert sandbox.stats()["requests"] == 0  # answered without one Wix request
    contact = Contact.objects.get(wix_id=entity["id"])
    assert list(contact.labels.values_list("key", flat=True)) == [known_key]
    # The worker's label pull, queued after the commit (and the living labels' nudge, which
    # queues nothing while no label is living).
    assert len([cb for cb in callbacks if cb is not living_pass_nudged]) == 1
    assert len(callbacks) == 2
    assert not living_pass_queue()

    outcome = labels_pull_for_contacts.call([entity["id"]])

    assert outcome.endswith("labels found, 1 contacts stored again.")
    assert set(contact.labels.values_list("key", flat=True)) == {known_key, fresh_key}


def wix_time(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_a_late_event_about_a_label_deleted_here_since_does_not_bring_it_back(client):
    """A person deleted the label here after Wix sent an update about it; the update arrives
    late, and stays ignored even if Wix's clock runs a little ahead of ours. A label made again
    with that key later in Wix does come back."""
    made = signed("wix.contacts.v4.label_created", "custom.vip", slug="created", entity=LABEL)
    assert post_webhook(client, made).status_code == 200
    labels_delete([Label.objects.get(key="custom.vip").pk])

    for sent in (timedelta(minutes=-5), timedelta(seconds=30)):  # before; skewed ahead
        renamed = {**LABEL, "displayName": "VIP 2", "updatedDate": wix_time(sent)}
        late = signed(
            "wix.contacts.v4.label_updated",
            "custom.vip",
            slug="updated",
            entity=renamed,
            when=wix_time(sent),
        )
        assert post_webhook(client, late).json()["outcome"] == "ignored: label deleted later"
        assert not Label.objects.filter(key="custom.vip").exists()

    later = wix_time(timedelta(minutes=10))
    again = signed(
        "wix.contacts.v4.label_created",
        "custom.vip",
        slug="created",
        entity={**LABEL, "createdDate": later, "updatedDate": later},
        when=later,
    )
    assert post_webhook(client, again).json()["outcome"] == "label created"
    assert Label.objects.filter(key="custom.vip").exists()


def test_a_body_too_large_for_a_wix_event_is_refused_before_it_is_read(client):
    """Forms may hold 10 MB (a pasted list); the webhook, read before its signature is checked,
    takes 1 MB."""
    response = client.post(
        "/wix/webhooks/", data="x" * (1024 * 1024 + 1), content_type="text/plain"
    )
    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()
