"""Writes on contacts and audiences. Label changes go to Wix first; the cache follows only when
Wix accepts (write-through), with an admin LogEntry naming the person."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from contacts.models import Audience, Contact
from contacts.segments import SegmentRules
from contacts.selectors import contact_wix_ids_for_change
from contacts.sync import contacts_upsert_page
from labels.bulk import label_job_start
from labels.models import Label, LabelJob
from labels.sync import label_cache_upsert
from labelsite.wix import WixClient


def _wix(client: WixClient | None):
    return contextlib.nullcontext(client) if client else WixClient.from_settings()


def _log(*, user, obj, action: int, message: str) -> None:
    LogEntry.objects.create(
        user_id=user.pk,
        content_type=ContentType.objects.get_for_model(type(obj)),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        action_flag=action,
        change_message=message,
    )


def _write_back(contact: Contact, data: dict) -> Contact:
    keys = (data.get("info") or {}).get("labelKeys", {}).get("items") or ()
    label_ids = dict(Label.objects.filter(key__in=keys).values_list("key", "pk"))
    contacts_upsert_page([data], label_ids=label_ids)
    contact.refresh_from_db()
    return contact


def contact_label_add(
    *, contact: Contact, label: Label, user, client: WixClient | None = None
) -> Contact:
    """Give one contact a label: Wix first, then the cache and the history."""
    with _wix(client) as wix:
        data = wix.label_contact(contact.wix_id, [label.key])
    with transaction.atomic():
        _write_back(contact, data)
        _log(user=user, obj=contact, action=CHANGE, message=f"Added label “{label}”.")
    return contact


def contact_label_remove(
    *, contact: Contact, label: Label, user, client: WixClient | None = None
) -> Contact:
    """Take a label off one contact: Wix first, then the cache and the history."""
    with _wix(client) as wix:
        data = wix.unlabel_contact(contact.wix_id, [label.key])
    with transaction.atomic():
        _write_back(contact, data)
        _log(user=user, obj=contact, action=CHANGE, message=f"Removed label “{label}”.")
    return contact


def _describe(add: Sequence[Label], remove: Sequence[Label]) -> str:
    parts = []
    if add:
        parts.append("add " + ", ".join(f"“{label}”" for label in add))
    if remove:
        parts.append("remove " + ", ".join(f"“{label}”" for label in remove))
    return " and ".join(parts).capitalize()


def contacts_label_bulk_start(
    *,
    rules: SegmentRules,
    add: Sequence[Label] = (),
    remove: Sequence[Label] = (),
    only_wix_ids: Iterable[str] | None = None,
    user,
) -> LabelJob:
    """Resolve the audience now (a snapshot of the contacts that would change) and queue the
    Wix bulk job for them."""
    wix_ids = contact_wix_ids_for_change(
        rules=rules,
        add_ids=[label.pk for label in add],
        remove_ids=[label.pk for label in remove],
        only_wix_ids=only_wix_ids,
    )
    scope = "ticked contacts" if only_wix_ids is not None else "all matching contacts"
    return label_job_start(
        requested_by=user,
        description=f"{_describe(add, remove)} on {scope}",
        contact_ids=wix_ids,
        add_keys=[label.key for label in add],
        remove_keys=[label.key for label in remove],
        kind=LabelJob.Kind.APPLY,
    )


def audience_create(*, name: str, description: str = "", rules: SegmentRules, user) -> Audience:
    with transaction.atomic():
        audience = Audience.objects.create(
            name=name, description=description, rules=rules.as_json(), created_by=user
        )
        _log(user=user, obj=audience, action=ADDITION, message="Saved from the contacts page.")
    return audience


def audience_update(
    *,
    audience: Audience,
    user,
    rules: SegmentRules | None = None,
    name: str | None = None,
    description: str | None = None,
) -> Audience:
    changed = []
    if rules is not None and rules.as_json() != audience.rules:
        audience.rules = rules.as_json()
        changed.append("rules")
    if name is not None and name != audience.name:
        audience.name = name
        changed.append("name")
    if description is not None and description != audience.description:
        audience.description = description
        changed.append("description")
    if changed:
        with transaction.atomic():
            audience.save()
            _log(user=user, obj=audience, action=CHANGE, message=f"Changed {', '.join(changed)}.")
    return audience


def audience_duplicate(*, audience: Audience, user) -> Audience:
    with transaction.atomic():
        copy = Audience.objects.create(
            name=f"{audience.name} (copy)"[:120],
            description=audience.description,
            rules=audience.rules,
            created_by=user,
        )
        _log(user=user, obj=copy, action=ADDITION, message=f"Duplicated from “{audience}”.")
    return copy


def audience_delete(*, audience: Audience, user) -> None:
    with transaction.atomic():
        _log(user=user, obj=audience, action=DELETION, message="Deleted.")
        audience.delete()


def audience_label_start(
    *, audience: Audience, label_name: str, user, client: WixClient | None = None
) -> LabelJob:
    """ "Save as Wix label": find or create the label in Wix, cache it, and queue the job that
    gives it to every contact of the audience that lacks it."""
    with _wix(client) as wix:
        data, _created = wix.find_or_create_label(label_name)
    label = label_cache_upsert(data)
    rules = SegmentRules.from_json(audience.rules)
    wix_ids = contact_wix_ids_for_change(rules=rules, add_ids=[label.pk])
    return label_job_start(
        requested_by=user,
        description=f"Give label “{label}” to audience “{audience}”",
        contact_ids=wix_ids,
        add_keys=[label.key],
        kind=LabelJob.Kind.AUDIENCE,
    )
