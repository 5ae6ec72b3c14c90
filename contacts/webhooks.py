"""Wix webhooks keep the cache fresh between sync runs.

Wix posts a JWT signed with its private key (RS256); we verify it with the public key from the
settings, unwrap the event, and apply it. Replays are recognised by event id; events that arrive
out of order never take a record back: an older revision, or anything older than a deletion of
the same entity, is ignored.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jwt
from django.conf import settings
from django.db import IntegrityError, transaction

from contacts.models import Contact, WebhookEvent
from contacts.sync import contacts_upsert_page
from labels.models import Label
from labels.sync import (
    LabelPullResult,
    label_from_wix,
    labels_log_wix_changes,
    labels_pull,
    parse_wix_datetime,
)
from labelsite.wix import WixClient, WixError

logger = logging.getLogger(__name__)

LABEL_FIELDS = ("display_name", "label_type", "namespace", "namespace_display_name")


class WebhookRejected(Exception):
    """The request is not a webhook signed by Wix (answered 401)."""


class WebhookMalformed(Exception):
    """Signed, but not an event we can read (answered 400)."""


@dataclass(frozen=True)
class WixEvent:
    event_type: str
    event_id: str
    entity_id: str
    event_time: datetime | None
    entity: dict | None


def webhook_public_key() -> str:
    if settings.WIX_WEBHOOK_PUBLIC_KEY:
        return settings.WIX_WEBHOOK_PUBLIC_KEY
    if settings.WIX_WEBHOOK_PUBLIC_KEY_FILE:
        try:
            return Path(settings.WIX_WEBHOOK_PUBLIC_KEY_FILE).read_text()
        except OSError:
            logger.error("Cannot read WIX_WEBHOOK_PUBLIC_KEY_FILE; rejecting webhooks.")
    return ""


def _json(value: object) -> dict:
    return json.loads(value) if isinstance(value, str) else value


ID_MAX_LENGTH = 100  # WebhookEvent's event_type, event_id and entity_id columns


def _id(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > ID_MAX_LENGTH or "\x00" in value:
        raise ValueError("bad id")
    return value


def _has_nul(value: object) -> bool:
    """PostgreSQL cannot store NUL in text: an event carrying one is unreadable, not a 500."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def webhook_decode(token: str) -> WixEvent:
    key = webhook_public_key()
    if not key:
        raise WebhookRejected("Webhooks are not configured (no WIX_WEBHOOK_PUBLIC_KEY).")
    try:
        claims = jwt.decode(token.strip(), key, algorithms=["RS256"])
    except jwt.InvalidTokenError as error:
        raise WebhookRejected(f"Invalid webhook signature: {error}.") from None
    try:
        outer = _json(claims["data"])
        envelope = _json(outer["data"])
        body = (
            envelope.get("createdEvent")
            or envelope.get("updatedEvent")
            or envelope.get("deletedEvent")
            or {}
        )
        entity = next(
            (
                _json(body[name])
                for name in ("entityAsJson", "entity", "currentEntityAsJson", "currentEntity")
                if body.get(name)
            ),
            None,
        )
        if entity is not None and (not isinstance(entity, dict) or _has_nul(entity)):
            raise ValueError("bad entity")
        return WixEvent(
            event_type=_id(outer["eventType"]),
            event_id=_id(envelope["id"]),
            entity_id=_id(envelope["entityId"]),
            event_time=parse_wix_datetime(envelope.get("eventTime")),
            entity=entity,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise WebhookMalformed(f"Unreadable webhook event ({type(error).__name__}).") from None


def _deleted_later(event: WixEvent) -> bool:
    later = WebhookEvent.objects.filter(entity_id=event.entity_id, event_type__endswith="_deleted")
    if event.event_time is not None:
        later = later.filter(event_time__gt=event.event_time)
    return later.exists()


def _apply_label(event: WixEvent) -> str:
    if event.event_type.endswith("_deleted"):
        label = Label.objects.select_for_update().filter(key=event.entity_id).first()
        if label is None:
            return "label already gone"
        labels_log_wix_changes(LabelPullResult(deleted=[label]), how="webhook")
        label.delete()
        return "label deleted"
    if event.entity is None or _deleted_later(event):
        return "ignored: label deleted later"
    fresh = label_from_wix(event.entity)
    current = Label.objects.select_for_update().filter(key=fresh.key).first()
    if current is None:
        try:
            with transaction.atomic():
                fresh.save()
        except IntegrityError:  # a sync or a person made it here at the same moment
            current = Label.objects.select_for_update().get(key=fresh.key)
        else:
            labels_log_wix_changes(
                LabelPullResult(created=[fresh], ids_by_key={fresh.key: fresh.pk}), how="webhook"
            )
            return "label created"
    if (
        current.remote_updated_at
        and fresh.remote_updated_at
        and fresh.remote_updated_at < current.remote_updated_at
    ):
        return "ignored: older than the cache"
    previous_name = current.display_name
    changed = any(getattr(current, name) != getattr(fresh, name) for name in LABEL_FIELDS)
    for name in (*LABEL_FIELDS, "remote_updated_at"):
        setattr(current, name, getattr(fresh, name))
    current.save()
    if changed:
        labels_log_wix_changes(LabelPullResult(updated=[(current, previous_name)]), how="webhook")
    return "label updated"


def _apply_contact(event: WixEvent) -> str:
    if event.event_type.endswith("_deleted"):
        deleted, _ = Contact.objects.filter(wix_id=event.entity_id).delete()
        return "contact deleted" if deleted else "contact already gone"
    if event.entity is None or _deleted_later(event):
        return "ignored: contact deleted later"
    known = Contact.objects.filter(wix_id=event.entity["id"]).values_list("revision", flat=True)
    if known and known[0] >= (event.entity.get("revision") or 0):
        return "ignored: not newer than the cache"
    label_ids = dict(Label.objects.values_list("key", "pk"))
    keys = set((event.entity.get("info") or {}).get("labelKeys", {}).get("items") or ())
    if keys - label_ids.keys():
        try:
            with WixClient.from_settings() as client:
                label_ids = labels_pull(client=client).ids_by_key
        except WixError as error:
            logger.warning("Could not refresh labels for a contact webhook: %s", error)
    written = contacts_upsert_page([event.entity], label_ids=label_ids)
    return "contact created" if written.created else "contact updated"


def webhook_apply(event: WixEvent) -> str:
    """Apply one event once. Returns what happened, in a few words.

    An entity missing what the cache needs raises `WebhookMalformed`, and nothing is recorded.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = WebhookEvent.objects.create(
                    event_id=event.event_id,
                    event_type=event.event_type,
                    entity_id=event.entity_id,
                    event_time=event.event_time,
                )
        except IntegrityError:
            return "ignored: already applied"
        try:
            if ".label_" in event.event_type:
                outcome = _apply_label(event)
            elif ".contact_" in event.event_type:
                outcome = _apply_contact(event)
            else:
                outcome = "ignored: not an event labelsite uses"
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise WebhookMalformed(
                f"Unreadable webhook entity ({type(error).__name__}: {error})."
            ) from None
        record.outcome = outcome
        record.save(update_fields=["outcome"])
    return outcome
