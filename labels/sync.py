"""Pull Wix's labels into the cache: all pages, upserted by key; gone from Wix, gone here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction

from labels.models import Label
from labelsite.wix import WixClient

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
            Label.objects.bulk_create(result.created, batch_size=500)
        if result.updated:
            Label.objects.bulk_update(
                [label for label, _ in result.updated], [*SYNCED_FIELDS, "synced_at"], 500
            )
        if result.deleted:
            Label.objects.filter(pk__in=[label.pk for label in result.deleted]).delete()
        result.ids_by_key = dict(Label.objects.values_list("key", "pk"))
    return result
