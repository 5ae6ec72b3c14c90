"""Webhooks signed as Wix signs them (RS256 JWT), posted to the real endpoint."""

import time

import jwt
import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry

from labels.history import SYNC_USERNAME
from sync.models import WebhookEvent
from tests.fixtures.webhooks import (
    FORGER_KEY,
    WEBHOOK_URL,
    WIX_KEY,
    post_webhook,
    signed,
)
from wixcache.models import Contact, ContactLabel, Label

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_key")]


def label_json(key, name, updated="2026-01-01T00:00:00.000Z"):
    return {
        "key": key,
        "displayName": name,
        "namespace": "custom",
        "labelType": "USER_DEFINED",
        "createdDate": "2025-01-01T00:00:00.000Z",
        "updatedDate": updated,
    }


def contact_json(contact_id, revision, keys=(), first="Ada"):
    return {
        "id": contact_id,
        "revision": revision,
        "createdDate": "2024-05-01T10:00:00.000Z",
        "updatedDate": f"2026-01-01T00:00:{revision:02d}.000Z",
        "primaryInfo": {"email": "ada@example.com"},
        "info": {"name": {"first": first, "last": "Lovelace"}, "labelKeys": {"items": list(keys)}},
    }


def test_label_created_updated_deleted(client):
    key = "custom.vip"
    created = post_webhook(
        client,
        signed("wix.contacts.v4.label_created", key, slug="created", entity=label_json(key, "VIP")),
    )
    assert created.status_code == 200
    assert created.json() == {"outcome": "label created"}
    assert Label.objects.get(key=key).display_name == "VIP"

    renamed = label_json(key, "Very Important", updated="2026-01-02T00:00:00.000Z")
    post_webhook(
        client, signed("wix.contacts.v4.label_updated", key, slug="updated", entity=renamed)
    )
    assert Label.objects.get(key=key).display_name == "Very Important"

    post_webhook(client, signed("wix.contacts.v4.label_deleted", key, slug="deleted"))
    assert not Label.objects.filter(key=key).exists()

    history = list(
        LogEntry.objects.filter(user__username=SYNC_USERNAME)
        .order_by("pk")
        .values_list("action_flag", "change_message")
    )
    assert history == [
        (ADDITION, "Found in Wix by webhook."),
        (CHANGE, "Renamed in Wix from “VIP” to “Very Important”."),
        (DELETION, "Deleted in Wix (key custom.vip)."),
    ]


def test_contact_created_with_labels_then_deleted(client):
    Label.objects.create(key="custom.a", display_name="A", namespace="custom")
    token = signed(
        "wix.contacts.v4.contact_created",
        "c1",
        slug="created",
        entity=contact_json("c1", 1, keys=["custom.a"]),
    )
    assert post_webhook(client, token).json() == {"outcome": "contact created"}
    assert list(ContactLabel.objects.values_list("label__key", flat=True)) == ["custom.a"]

    post_webhook(client, signed("wix.contacts.v4.contact_deleted", "c1", slug="deleted"))
    assert not Contact.objects.exists()


def test_forged_or_missing_signature_is_refused_and_changes_nothing(client):
    forged = signed(
        "wix.contacts.v4.label_created",
        "custom.x",
        slug="created",
        entity=label_json("custom.x", "X"),
        key=FORGER_KEY,
    )
    for body in (forged, "", "not-a-jwt"):
        response = post_webhook(client, body)
        assert response.status_code == 401
        assert "signature" in response.content.decode()
    assert not Label.objects.exists()
    assert not WebhookEvent.objects.exists()


def test_unsigned_json_is_refused(client):
    response = client.post(WEBHOOK_URL, data={"eventType": "x"}, content_type="application/json")
    assert response.status_code == 401


def test_get_is_not_allowed(client):
    assert client.get(WEBHOOK_URL).status_code == 405


def test_a_replayed_event_is_ignored(client):
    token = signed(
        "wix.contacts.v4.label_created",
        "custom.r",
        slug="created",
        entity=label_json("custom.r", "R"),
        event_id="evt-1",
    )
    assert post_webhook(client, token).json()["outcome"] == "label created"
    Label.objects.filter(key="custom.r").update(display_name="Changed here")
    assert post_webhook(client, token).json()["outcome"] == "ignored: already applied"
    assert Label.objects.get(key="custom.r").display_name == "Changed here"
    assert WebhookEvent.objects.count() == 1


def test_out_of_order_updates_never_go_back(client):
    newer = contact_json("c2", 5, first="Newer")
    older = contact_json("c2", 3, first="Older")
    post_webhook(
        client, signed("wix.contacts.v4.contact_updated", "c2", slug="updated", entity=newer)
    )
    response = post_webhook(
        client, signed("wix.contacts.v4.contact_updated", "c2", slug="updated", entity=older)
    )
    assert response.json()["outcome"] == "ignored: not newer than the cache"
    assert Contact.objects.get(wix_id="c2").first_name == "Newer"


def test_a_late_create_after_a_delete_does_not_resurrect(client):
    post_webhook(
        client,
        signed(
            "wix.contacts.v4.contact_deleted", "c3", slug="deleted", when="2026-02-01T00:00:00Z"
        ),
    )
    late = signed(
        "wix.contacts.v4.contact_created",
        "c3",
        slug="created",
        entity=contact_json("c3", 1),
        when="2026-01-31T00:00:00Z",
    )
    assert post_webhook(client, late).json()["outcome"] == "ignored: contact deleted later"
    assert not Contact.objects.exists()


def test_a_signed_but_unreadable_event_is_a_bad_request(client):
    now = int(time.time())
    token = jwt.encode({"data": "{}", "iat": now, "exp": now + 60}, WIX_KEY, "RS256")
    response = post_webhook(client, token)
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_without_a_configured_key_everything_is_refused(client, settings):
    settings.WIX_WEBHOOK_PUBLIC_KEY = ""
    settings.WIX_WEBHOOK_PUBLIC_KEY_FILE = ""
    token = signed(
        "wix.contacts.v4.label_created",
        "custom.y",
        slug="created",
        entity=label_json("custom.y", "Y"),
    )
    assert post_webhook(client, token).status_code == 401
    assert not Label.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_signs_events_that_labelsite_applies(live_server, sandbox, settings):
    """End to end: changes made in (the stand-in for) Wix reach the cache by webhook alone."""
    settings.WIX_WEBHOOK_PUBLIC_KEY = sandbox.session.get(
        f"{sandbox.url}/_sandbox/webhook-public-key", timeout=10
    ).text
    sandbox.control("POST", "webhooks/url", {"url": f"{live_server.url}{WEBHOOK_URL}"})
    label = sandbox.api("POST", "/contacts/v4/labels", json={"displayName": "From Wix"})
    key = label.json()["label"]["key"]
    contact = sandbox.api(
        "POST",
        "/contacts/v4/contacts",
        json={"info": {"name": {"first": "Grace"}, "labelKeys": {"items": [key]}}},
    ).json()["contact"]
    sandbox.api("PATCH", f"/contacts/v4/labels/{key}", json={"label": {"displayName": "Renamed"}})

    delivered = sandbox.control("POST", "webhooks/flush", {"timeout": 10})

    assert delivered["failed"] == 0
    assert delivered["delivered"] >= 3
    assert Label.objects.get(key=key).display_name == "Renamed"
    cached = Contact.objects.get(wix_id=contact["id"])
    assert cached.first_name == "Grace"
    assert list(cached.labels.values_list("key", flat=True)) == [key]
    assert WebhookEvent.objects.filter(outcome="label created").count() == 1
