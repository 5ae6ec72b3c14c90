"""Label history in the Django admin's own log (`LogEntry`), shown on each label's history page.

Entries are written against the `labels.Label` proxy's content type, the one the admin's label
pages use, whoever made the change: a person here, a bulk job, or Wix itself (found by a sync or
told by a webhook, attributed to the inactive `wix-sync` user).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType

from labels.models import Label as AdminLabel
from labelsite.words import counted
from wixcache.models import Label
from wixcache.store import LabelsReplaced

SYNC_USERNAME = "wix-sync"


def sync_user():
    """The inactive user that changes arriving from Wix are logged under in label history."""
    user, created = get_user_model().objects.get_or_create(
        username=SYNC_USERNAME, defaults={"is_active": False, "first_name": "Wix (sync)"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _content_type() -> ContentType:
    return ContentType.objects.get_for_model(AdminLabel, for_concrete_model=False)


def _entry(user_id: int, label: Label, action: int, message: str, *, pk: int | None = None):
    return LogEntry(
        user_id=user_id,
        content_type=_content_type(),
        object_id=str(pk or label.pk),
        object_repr=str(label)[:200],
        action_flag=action,
        change_message=message,
    )


def label_log(*, user, label: Label, action: int, message: str) -> None:
    label_log_many(user_id=user.pk, labels=[label], action=action, message=message)


def label_log_many(*, user_id: int, labels: Iterable[Label], action: int, message: str) -> None:
    LogEntry.objects.bulk_create([_entry(user_id, label, action, message) for label in labels])


def labels_log_wix_changes(result: LabelsReplaced, *, how: str = "sync") -> None:
    """History entries for what changed in Wix, so that a label's history tells the whole story."""
    if not (result.created or result.updated or result.deleted):
        return
    user_id = sync_user().pk
    entries = [
        _entry(user_id, label, ADDITION, f"Found in Wix by {how}.", pk=result.ids_by_key[label.key])
        for label in result.created
    ]
    for label, previous_name in result.updated:
        if label.display_name != previous_name:
            message = f"Renamed in Wix from “{previous_name}” to “{label.display_name}”."
        else:
            message = "Changed in Wix (type or namespace)."
        entries.append(_entry(user_id, label, CHANGE, message))
    entries += [
        _entry(user_id, label, DELETION, f"Deleted in Wix (key {label.key}).")
        for label in result.deleted
    ]
    LogEntry.objects.bulk_create(entries, batch_size=500)


def contacts_noun(n: int) -> str:
    return "contact" if n == 1 else "contacts"


def contacts_counted(n: int) -> str:
    """ "1 contact", "2,000 contacts": as the history and job results say it."""
    return counted(n, "contact")
