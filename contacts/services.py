"""Writes on contacts and audiences, each an operation in the journal. Label changes go to Wix
first; the cache follows only when Wix accepts (write-through), with an admin LogEntry naming
the person."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

from django.contrib.admin.models import ADDITION, CHANGE, DELETION
from django.db import transaction

from contacts.history import history_log
from contacts.models import Audience
from contacts.segments import SegmentRules
from contacts.selectors import contact_wix_ids_for_change
from journal.models import Operation, OperationRef
from journal.services import (
    asking_wix,
    hands_over_on_error,
    operation_done,
    operation_plan,
    operation_refs_add,
)
from labels.models import LabelJob
from labels.services import (
    GONE_MEANWHILE,
    LabelError,
    bulk_reverse,
    label_gone_meanwhile,
    label_ref,
    labels_check,
)
from labels.tasks import label_job_start
from labelsite.wix import WixClient
from labelsite.wix.records import WixContact
from wixcache.budget import site_client
from wixcache.models import Contact, Label
from wixcache.store import contacts_store, label_store, labels_gone_mark


def _wix(client: WixClient | None):
    return contextlib.nullcontext(client) if client else site_client(interactive=True)


def contact_ref(contact: Contact) -> tuple[str, str, str]:
    return (OperationRef.Kind.CONTACT, contact.wix_id, str(contact))


def audience_ref(audience: Audience) -> tuple[str, str, str]:
    return (OperationRef.Kind.AUDIENCE, str(audience.pk), audience.name)


def _names(labels: Sequence[Label]) -> str:
    return ", ".join(f"“{label.display_name}”" for label in labels)


def contact_labels_change(
    *,
    contact: Contact,
    add: Sequence[Label] = (),
    remove: Sequence[Label] = (),
    user,
    client: WixClient | None = None,
    op: Operation | None = None,
) -> Operation:
    """Give labels to one contact or take them away: Wix first, then the cache and the
    history. Returns the done operation; its undo gives back what was taken (and the reverse)."""
    add, remove = list(add), list(remove)
    if op is None:
        op = operation_plan(
            kind=Operation.Kind.CONTACT_LABELS,
            user=user,
            summary=_contact_summary(contact, add, remove),
            args=_contact_step(contact, add, remove),
            refs=[contact_ref(contact), *map(label_ref, add + remove)],
        )
    with asking_wix(op), _wix(client) as wix:
        record = None
        if add:
            record = wix.label_contact(contact.wix_id, [label.key for label in add])
        if remove:
            record = wix.unlabel_contact(contact.wix_id, [label.key for label in remove])
    contact_labels_changed(op, record, user=user)
    return op


def _contact_summary(contact: Contact, add: Sequence[Label], remove: Sequence[Label]) -> str:
    parts = []
    if add:
        parts.append(f"Give {_names(add)} to")
    if remove:
        parts.append(f"{'take' if add else 'Take'} {_names(remove)} from")
    return f"{' and '.join(parts)} contact “{contact}”"


def _contact_step(contact: Contact, add: Sequence[Label], remove: Sequence[Label]) -> dict:
    return {
        "type": "contact",
        "contact": contact.wix_id,
        "add": [label.key for label in add],
        "remove": [label.key for label in remove],
    }


def _change_message(add: Sequence[str], remove: Sequence[str], *, prefix: str = "") -> str:
    names = dict(Label.objects.filter(key__in=[*add, *remove]).values_list("key", "display_name"))
    parts = [f"{prefix}Added label “{names.get(key, key)}”." for key in add]
    parts += [f"{prefix}Removed label “{names.get(key, key)}”." for key in remove]
    return " ".join(parts)


@hands_over_on_error
def contact_labels_changed(op: Operation, record: WixContact, *, user) -> None:
    """Wix answered with the contact as it is now: the cache, the history and the journal
    follow in one transaction. Undo reverses exactly what the step asked."""
    add, remove = op.args.get("add", []), op.args.get("remove", [])
    with transaction.atomic():
        contacts_store([record])
        contact = Contact.objects.filter(wix_id=record.id).first()
        message = _change_message(add, remove)
        if contact is not None and user is not None:
            history_log(user=user, obj=contact, action=CHANGE, message=message)
        reverse = [{"type": "contact", "contact": record.id, "add": remove, "remove": add}]
        operation_done(op, outcome=message, reverse=reverse)


def contact_label_add(
    *, contact: Contact, label: Label, user, client: WixClient | None = None
) -> Operation:
    """Give one contact a label."""
    return contact_labels_change(contact=contact, add=[label], user=user, client=client)


def contact_label_remove(
    *, contact: Contact, label: Label, user, client: WixClient | None = None
) -> Operation:
    """Take a label off one contact; undoable."""
    return contact_labels_change(contact=contact, remove=[label], user=user, client=client)


def contact_step_check(step: dict) -> None:
    """A label to give back must exist (a deleted one comes back by undoing its deletion)."""
    labels_check(step)


def contact_step_run(step: dict, *, op: Operation, user):
    """An undo step on one contact (see journal.undo). A label to take away that is gone
    already is nobody's: there is nothing to take."""
    labels_check(step)
    existing = set(Label.objects.filter(key__in=step["remove"]).values_list("key", flat=True))
    step = {**step, "remove": [key for key in step["remove"] if key in existing]}
    if not step["add"] and not step["remove"]:
        return [], False
    with asking_wix(op), site_client(interactive=True) as wix:
        record = None
        if step["add"]:
            record = wix.label_contact(step["contact"], step["add"])
        if step["remove"]:
            record = wix.unlabel_contact(step["contact"], step["remove"])
    with transaction.atomic():
        contacts_store([record])
        contact = Contact.objects.filter(wix_id=step["contact"]).first()
        if contact is not None:
            message = _change_message(step["add"], step["remove"], prefix="Undo: ")
            history_log(user=user, obj=contact, action=CHANGE, message=message)
    return [{**step, "add": step["remove"], "remove": step["add"]}], False


def _describe(add: Sequence[Label], remove: Sequence[Label]) -> str:
    parts = []
    if add:
        parts.append("add " + _names(add))
    if remove:
        parts.append("remove " + _names(remove))
    text = " and ".join(parts)
    return text[:1].upper() + text[1:]  # never lower-case a label's name


def contacts_label_bulk_start(
    *,
    rules: SegmentRules,
    add: Sequence[Label] = (),
    remove: Sequence[Label] = (),
    only_wix_ids: Iterable[str] | None = None,
    user,
) -> LabelJob:
    """Resolve the audience now (a snapshot of the contacts that would change) and queue the
    Wix bulk job for them, as one operation whose undo reverses exactly what each contact
    gained or lost."""
    only = list(only_wix_ids) if only_wix_ids is not None else None
    per_key = {
        label.key: contact_wix_ids_for_change(
            rules=rules,
            add_ids=[label.pk] if label in add else [],
            remove_ids=[label.pk] if label in remove else [],
            only_wix_ids=only,
        )
        for label in [*add, *remove]
    }
    wix_ids = list(dict.fromkeys(wix_id for ids in per_key.values() for wix_id in ids))
    scope = "ticked contacts" if only is not None else "all matching contacts"
    description = f"{_describe(add, remove)} on {scope}"
    add_keys, remove_keys = [label.key for label in add], [label.key for label in remove]
    with transaction.atomic():
        op = operation_plan(
            kind=Operation.Kind.BULK_LABELS,
            user=user,
            summary=f"{description} ({len(wix_ids)} contacts)",
            args={"add": add_keys, "remove": remove_keys, "count": len(wix_ids)},
            reverse=bulk_reverse(add_keys, remove_keys, wix_ids, per_key=per_key),
            refs=map(label_ref, [*add, *remove]),
        )
        return label_job_start(
            requested_by=user,
            description=description,
            contact_ids=wix_ids,
            add_keys=add_keys,
            remove_keys=remove_keys,
            kind=LabelJob.Kind.APPLY,
            operation=op,
        )


def _audience_logged(audience: Audience, *, user, summary: str, action: int, message: str) -> None:
    """An audience change is local (Wix has no audiences): written and done in one go."""
    op = operation_plan(
        kind=Operation.Kind.AUDIENCE,
        user=user,
        summary=summary,
        refs=[audience_ref(audience)],
        state=Operation.State.DONE,
    )
    operation_done(op)
    history_log(user=user, obj=audience, action=action, message=message)


def audience_create(*, name: str, description: str = "", rules: SegmentRules, user) -> Audience:
    with transaction.atomic():
        audience = Audience.objects.create(
            name=name, description=description, rules=rules.as_json(), created_by=user
        )
        _audience_logged(
            audience,
            user=user,
            summary=f"Save audience “{audience.name}”",
            action=ADDITION,
            message="Saved from the contacts page.",
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
    """Change what differs from the audience as stored (not as a form may have changed the
    instance already), under a lock so that two saves do not interleave."""
    with transaction.atomic():
        stored = Audience.objects.select_for_update().get(pk=audience.pk)
        changed = []
        if rules is not None and rules.as_json() != stored.rules:
            stored.rules = rules.as_json()
            changed.append("rules")
        if name is not None and name != stored.name:
            changed.append(f"name (was “{stored.name}”)")
            stored.name = name
        if description is not None and description != stored.description:
            stored.description = description
            changed.append("description")
        if changed:
            stored.save()
            _audience_logged(
                stored,
                user=user,
                summary=f"Change audience “{stored.name}”: {', '.join(changed)}",
                action=CHANGE,
                message=f"Changed {', '.join(changed)}.",
            )
    return stored


def audience_duplicate(*, audience: Audience, user) -> Audience:
    with transaction.atomic():
        copy = Audience.objects.create(
            name=f"{audience.name} (copy)"[:120],
            description=audience.description,
            rules=audience.rules,
            created_by=user,
        )
        _audience_logged(
            copy,
            user=user,
            summary=f"Duplicate audience “{audience.name}” as “{copy.name}”",
            action=ADDITION,
            message=f"Duplicated from “{audience}”.",
        )
    return copy


def audience_delete(*, audience: Audience, user) -> None:
    with transaction.atomic():
        _audience_logged(
            audience,
            user=user,
            summary=f"Delete audience “{audience.name}”",
            action=DELETION,
            message="Deleted.",
        )
        audience.delete()


def audience_label_start(
    *, audience: Audience, label_name: str, user, client: WixClient | None = None
) -> LabelJob:
    """ "Save as Wix label": find or create the label in Wix, cache it, and queue the job that
    gives it to every contact of the audience that lacks it. Undo takes it away again."""
    op = operation_plan(
        kind=Operation.Kind.AUDIENCE_LABEL,
        user=user,
        summary=f"Give label “{label_name}” to audience “{audience.name}”",
        args={"name": label_name, "audience": audience.pk, "gone_after": labels_gone_mark()},
        refs=[audience_ref(audience)],
    )
    with asking_wix(op), _wix(client) as wix:
        record, created = wix.find_or_create_label(label_name)
    return audience_label_made(op, record, created=created, audience=audience, user=user)


@hands_over_on_error
def audience_label_made(
    op: Operation, record, *, created: bool, audience: Audience | None, user
) -> LabelJob | None:
    """Wix has the label: cache it and queue the job, in one transaction with the journal. A
    label Wix had, and that was deleted meanwhile, is not brought back; nobody gets it."""
    with transaction.atomic():
        stored = label_store(record, gone_after=op.args.get("gone_after"))
        if stored.gone:
            operation_done(op, outcome=GONE_MEANWHILE)
            job = None
        else:
            job = _audience_label_job(
                op, stored.label, created=created, audience=audience, user=user
            )
    if stored.gone:
        raise LabelError(label_gone_meanwhile(record.display_name))
    return job


def _audience_label_job(
    op: Operation, label: Label, *, created: bool, audience: Audience | None, user
) -> LabelJob | None:
    operation_refs_add(op, [label_ref(label)])
    if audience is None:  # deleted meanwhile: the label stays, nobody gets it
        operation_done(op, outcome="The audience was deleted meanwhile; nobody got the label.")
        return None
    rules = SegmentRules.from_json(audience.rules)
    wix_ids = contact_wix_ids_for_change(rules=rules, add_ids=[label.pk])
    op.args = {**op.args, "key": label.key, "changed_before_jobs": created}
    op.reverse = bulk_reverse([label.key], [], wix_ids)
    op.save(update_fields=["args", "reverse"])
    return label_job_start(
        requested_by=user,
        description=f"Give label “{label}” to audience “{audience}”",
        contact_ids=wix_ids,
        add_keys=[label.key],
        kind=LabelJob.Kind.AUDIENCE,
        operation=op,
    )
