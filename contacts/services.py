"""Writes on contacts and audiences. Label changes go to Wix first; the cache follows only when
Wix accepts (write-through), with an admin LogEntry naming the person."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

from django.contrib.admin.models import ADDITION, CHANGE, DELETION
from django.db import transaction

from contacts.history import history_log
from contacts.models import Audience
from contacts.segments import SegmentRules
from contacts.selectors import contact_wix_ids_for_change
from labels.models import LabelJob
from labels.tasks import label_job_start
from labelsite.wix import WixClient
from labelsite.wix.records import WixContact
from wixcache.budget import site_client
from wixcache.models import Contact, Label
from wixcache.store import contacts_store, label_store


def _wix(client: WixClient | None):
    return contextlib.nullcontext(client) if client else site_client(interactive=True)


def _write_back(contact: Contact, record: WixContact) -> Contact:
    contacts_store([record])
    contact.refresh_from_db()
    return contact


def contact_label_add(
    *, contact: Contact, label: Label, user, client: WixClient | None = None
) -> Contact:
    """Give one contact a label: Wix first, then the cache and the history."""
    with _wix(client) as wix:
        record = wix.label_contact(contact.wix_id, [label.key])
    with transaction.atomic():
        _write_back(contact, record)
        history_log(user=user, obj=contact, action=CHANGE, message=f"Added label “{label}”.")
    return contact


def contact_label_remove(
    *, contact: Contact, label: Label, user, client: WixClient | None = None
) -> Contact:
    """Take a label off one contact: Wix first, then the cache and the history."""
    with _wix(client) as wix:
        record = wix.unlabel_contact(contact.wix_id, [label.key])
    with transaction.atomic():
        _write_back(contact, record)
        history_log(user=user, obj=contact, action=CHANGE, message=f"Removed label “{label}”.")
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
        history_log(
            user=user, obj=audience, action=ADDITION, message="Saved from the contacts page."
        )
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
            history_log(
                user=user, obj=audience, action=CHANGE, message=f"Changed {', '.join(changed)}."
            )
    return audience


def audience_duplicate(*, audience: Audience, user) -> Audience:
    with transaction.atomic():
        copy = Audience.objects.create(
            name=f"{audience.name} (copy)"[:120],
            description=audience.description,
            rules=audience.rules,
            created_by=user,
        )
        history_log(user=user, obj=copy, action=ADDITION, message=f"Duplicated from “{audience}”.")
    return copy


def audience_delete(*, audience: Audience, user) -> None:
    with transaction.atomic():
        history_log(user=user, obj=audience, action=DELETION, message="Deleted.")
        audience.delete()


def audience_label_start(
    *, audience: Audience, label_name: str, user, client: WixClient | None = None
) -> LabelJob:
    """ "Save as Wix label": find or create the label in Wix, cache it, and queue the job that
    gives it to every contact of the audience that lacks it."""
    with _wix(client) as wix:
        record, _created = wix.find_or_create_label(label_name)
    label = label_store(record).label
    rules = SegmentRules.from_json(audience.rules)
    wix_ids = contact_wix_ids_for_change(rules=rules, add_ids=[label.pk])
    return label_job_start(
        requested_by=user,
        description=f"Give label “{label}” to audience “{audience}”",
        contact_ids=wix_ids,
        add_keys=[label.key],
        kind=LabelJob.Kind.AUDIENCE,
    )
