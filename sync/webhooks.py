"""Wix webhooks keep the cache fresh between sync runs.

`labelsite.wix.webhooks` checks the signature and reads the event; this module applies it once.
Replays are recognised by event id; events that arrive out of order never take a record back:
an older revision, or anything older than a deletion of the same entity, is ignored.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from journal.models import Operation, OperationRef
from journal.services import operation_done, operation_plan
from labels.history import labels_log_wix_changes
from labels.settle import CLOCK_SKEW
from labelsite.wix.records import WixContact, WixLabel
from labelsite.wix.webhooks import WixEvent, decode_event
from sync.models import WebhookEvent
from sync.tasks import labels_pull_for_contacts
from wixcache.models import Contact, Label, LabelGone
from wixcache.store import (
    LabelsReplaced,
    contacts_delete,
    contacts_store,
    label_store,
    labels_delete,
    memberships_write_lock,
)

logger = logging.getLogger(__name__)


def webhook_public_key() -> str:
    if settings.WIX_WEBHOOK_PUBLIC_KEY:
        return settings.WIX_WEBHOOK_PUBLIC_KEY
    if settings.WIX_WEBHOOK_PUBLIC_KEY_FILE:
        try:
            return Path(settings.WIX_WEBHOOK_PUBLIC_KEY_FILE).read_text()
        except OSError:
            logger.error("Cannot read WIX_WEBHOOK_PUBLIC_KEY_FILE; rejecting webhooks.")
    return ""


def webhook_decode(token: str) -> WixEvent:
    """The event in a webhook request; raises WebhookRejected or WebhookMalformed."""
    return decode_event(token, public_key=webhook_public_key())


def _deleted_later(event: WixEvent) -> bool:
    later = WebhookEvent.objects.filter(entity_id=event.entity_id, event_type__endswith="_deleted")
    if event.event_time is not None:
        later = later.filter(event_time__gt=event.event_time)
    return later.exists()


def _let_go_later(event: WixEvent) -> bool:
    """The cache let go of this label after the event happened (a person deleted it here, or a
    sync found it gone) while the event was on its way: it must not come back. Wix's clock and
    ours may differ by CLOCK_SKEW, and an event without a time may be of any age: in doubt the
    event is ignored, and the next label pull brings a label Wix really has."""
    if Label.objects.filter(key=event.entity_id).exists():
        return False
    gone = LabelGone.objects.filter(key=event.entity_id)
    when = event.event_time or event.entity.updated_date
    if when is not None:
        gone = gone.filter(gone_at__gt=when - CLOCK_SKEW)
    return gone.exists()


def _apply_label(event: WixEvent) -> str:
    if event.is_deletion:
        memberships_write_lock()  # the one lock order: before the label row
        label = Label.objects.select_for_update().filter(key=event.entity_id).first()
        if label is None:
            return "label already gone"
        labels_log_wix_changes(LabelsReplaced(deleted=[label]), how="webhook")
        labels_delete([label.pk])
        return "label deleted"
    # The one lock order, before the checks: a deletion committing meanwhile is either seen by
    # them or waits for this store.
    memberships_write_lock()
    if not isinstance(event.entity, WixLabel) or _deleted_later(event) or _let_go_later(event):
        return "ignored: label deleted later"
    stored = label_store(event.entity)
    if stored.stale:
        return "ignored: older than the cache"
    if stored.created:
        labels_log_wix_changes(
            LabelsReplaced(created=[stored.label], ids_by_key={stored.label.key: stored.label.pk}),
            how="webhook",
        )
        return "label created"
    if stored.changed:
        labels_log_wix_changes(
            LabelsReplaced(updated=[(stored.label, stored.previous_name)]), how="webhook"
        )
    return "label updated"


def _apply_contact(event: WixEvent) -> str:
    if event.is_deletion:
        gone = list(Contact.objects.filter(wix_id=event.entity_id).values_list("pk", flat=True))
        return "contact deleted" if contacts_delete(gone) else "contact already gone"
    contact = event.entity
    if not isinstance(contact, WixContact) or _deleted_later(event):
        return "ignored: contact deleted later"
    known = Contact.objects.filter(wix_id=contact.id).values_list("revision", flat=True)
    if known and known[0] >= contact.revision:
        return "ignored: not newer than the cache"
    unknown = set(contact.label_keys) - set(
        Label.objects.filter(key__in=contact.label_keys).values_list("key", flat=True)
    )
    if unknown:
        # A label made in Wix since the last pull: the worker pulls labels and stores the
        # contact again, so that the webhook answers at once and calls no Wix inside its
        # transaction. Meanwhile the contact is stored with the labels known here.
        contact_id = contact.id
        transaction.on_commit(lambda: labels_pull_for_contacts.enqueue([contact_id]))
    written = contacts_store([contact])
    return "contact created" if written.created else "contact updated"


def webhook_apply(event: WixEvent) -> str:
    """Apply one event once. Returns what happened, in a few words. Makes no Wix request."""
    if event.instance_id != settings.WIX_APP_INSTANCE_ID:
        # The same app installed on another site: its events are not about this cache.
        return "ignored: another app instance"
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
        if event.is_label:
            outcome = _apply_label(event)
        elif event.is_contact:
            outcome = _apply_contact(event)
        else:
            outcome = "ignored: not an event labelsite uses"
        record.outcome = outcome
        record.save(update_fields=["outcome"])
        if not outcome.startswith("ignored"):
            _journal(event, outcome)
    return outcome


def _journal(event: WixEvent, outcome: str) -> None:
    """What Wix told, in the journal, with the label or contact it was about."""
    kind = OperationRef.Kind.LABEL if event.is_label else OperationRef.Kind.CONTACT
    op = operation_plan(
        kind=Operation.Kind.WEBHOOK,
        user=None,
        summary=f"Wix told: {event.event_type} ({outcome})",
        args={"event": event.event_id},
        refs=[(kind, event.entity_id or "", "")],
        state=Operation.State.DONE,
    )
    operation_done(op, outcome=outcome)
