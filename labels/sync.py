"""Pull Wix's labels into the cache: all pages, upserted by key; gone from Wix, gone here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from labels.models import Label
from labelsite.wix import WixClient

SYNC_USERNAME = "wix-sync"

SYNCED_FIELDS = (
    "display_name",
    "label_type",
    "namespace",
    "namespace_display_name",
    "remote_created_at",
    "remote_updated_at",
)


def parse_wix_datetime(value: str | None) -> datetime | None:
    """Wix sends ISO-8601 UTC (`2024-03-05T10:11:12.345Z`); Python 3.11+ reads the `Z`."""
    return datetime.fromisoformat(value) if value else None


def label_from_wix(data: dict) -> Label:
    label_type = data.get("labelType") or Label.Type.UNKNOWN
    if label_type not in Label.Type.values:
        label_type = Label.Type.UNKNOWN
    return Label(
        key=data["key"],
        display_name=data.get("displayName", ""),
        label_type=label_type,
        namespace=data.get("namespace", ""),
        namespace_display_name=data.get("namespaceDisplayName", ""),
        remote_created_at=parse_wix_datetime(data.get("createdDate")),
        remote_updated_at=parse_wix_datetime(data.get("updatedDate")),
    )


def sync_user():
    """The inactive user that changes arriving from Wix are logged under in label history."""
    user, created = get_user_model().objects.get_or_create(
        username=SYNC_USERNAME, defaults={"is_active": False, "first_name": "Wix (sync)"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def labels_log_wix_changes(result: LabelPullResult, *, how: str = "sync") -> None:
    """History entries for what changed in Wix (found by a sync or told by a webhook), so that
    a label's history tells the whole story."""
    if not (result.created or result.updated or result.deleted):
        return
    user_id = sync_user().pk
    content_type = ContentType.objects.get_for_model(Label)

    def entry(pk: int, name: str, action: int, message: str) -> LogEntry:
        return LogEntry(
            user_id=user_id,
            content_type=content_type,
            object_id=str(pk),
            object_repr=name[:200],
            action_flag=action,
            change_message=message,
        )

    entries = [
        entry(result.ids_by_key[label.key], label.display_name, ADDITION, f"Found in Wix by {how}.")
        for label in result.created
    ]
    for label, previous_name in result.updated:
        if label.display_name != previous_name:
            message = f"Renamed in Wix from “{previous_name}” to “{label.display_name}”."
        else:
            message = "Changed in Wix (type or namespace)."
        entries.append(entry(label.pk, label.display_name, CHANGE, message))
    entries += [
        entry(label.pk, label.display_name, DELETION, f"Deleted in Wix (key {label.key}).")
        for label in result.deleted
    ]
    LogEntry.objects.bulk_create(entries, batch_size=500)


def label_cache_upsert(data: dict) -> Label:
    """Write one label, as Wix returned it, into the cache."""
    fresh = label_from_wix(data)
    label, _ = Label.objects.update_or_create(
        key=fresh.key, defaults={name: getattr(fresh, name) for name in SYNCED_FIELDS}
    )
    return label


@dataclass
class LabelPullResult:
    created: list[Label] = field(default_factory=list)
    updated: list[tuple[Label, str]] = field(default_factory=list)  # (label, previous name)
    deleted: list[Label] = field(default_factory=list)
    ids_by_key: dict[str, int] = field(default_factory=dict)


def labels_pull(*, client: WixClient) -> LabelPullResult:
    """Make the Label table equal to Wix's labels. A few thousand labels at most, so one pass."""
    remote = {data["key"]: label_from_wix(data) for data in client.iter_labels()}
    result = LabelPullResult()
    with transaction.atomic():
        local = {label.key: label for label in Label.objects.all()}
        for key, fresh in remote.items():
            current = local.get(key)
            if current is None:
                result.created.append(fresh)
                continue
            changed = [f for f in SYNCED_FIELDS if getattr(current, f) != getattr(fresh, f)]
            if changed:
                previous_name = current.display_name
                for name in changed:
                    setattr(current, name, getattr(fresh, name))
                result.updated.append((current, previous_name))
        result.deleted = [label for key, label in local.items() if key not in remote]

        if result.created:
            # A person may have created one of them here meanwhile (write-through): keep theirs.
            Label.objects.bulk_create(result.created, batch_size=500, ignore_conflicts=True)
        if result.updated:
            Label.objects.bulk_update(
                [label for label, _ in result.updated], [*SYNCED_FIELDS, "synced_at"], 500
            )
        if result.deleted:
            gone = [label.pk for label in result.deleted]
            list(Label.objects.select_for_update().filter(pk__in=gone).order_by("pk"))
            Label.objects.filter(pk__in=gone).delete()
        result.ids_by_key = dict(Label.objects.values_list("key", "pk"))
        labels_log_wix_changes(result)
    return result
