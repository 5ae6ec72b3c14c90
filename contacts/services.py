"""Writes on contacts and audiences, each an operation in the journal. Label changes go to Wix
first; the cache follows only when Wix accepts (write-through), with an admin LogEntry naming
the person."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

from django.contrib.admin.models import ADDITION, CHANGE, DELETION
from django.db import transaction
from django.utils import timezone

from contacts import rules as nested
from contacts.history import history_log
from contacts.lists import PASTED, contact_list_changing, wix_ids_in_created_order
from contacts.models import Audience, AudienceSize, ContactList, LivingLabel
from contacts.segments import SegmentRules
from contacts.selectors import (
    audience_rules_problem,
    contact_counts_for_segments,
    contact_wix_ids_for_change,
)
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
from wixcache.models import Contact, ContactLabel, Label
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
    scope = "ticked contacts" if only is not None else "all matching contacts"
    with transaction.atomic():
        _refuse_taking_from_everyone(remove, per_key, user=user)
        description = f"{_describe(add, remove)} on {scope}"
        return _bulk_job(description, add=add, remove=remove, per_key=per_key, user=user)


def _bulk_job(
    description: str,
    *,
    add: Sequence[Label],
    remove: Sequence[Label],
    per_key: dict[str, list[str]],
    user,
) -> LabelJob:
    """The operation (undo gives back exactly what each contact gained or lost) and the job that
    carries it out, for the contacts `per_key` lists under each label's key."""
    wix_ids = list(dict.fromkeys(wix_id for ids in per_key.values() for wix_id in ids))
    add_keys, remove_keys = [label.key for label in add], [label.key for label in remove]
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


class TakesLabelFromEveryone(LabelError):
    """The change would take a label from every contact that has it: a label manager's action."""


def takes_from_everyone_refusal(label: Label, losing_wix_ids: Iterable[str], *, user) -> str:
    """Why this person may not take `label` from these contacts (Wix ids that hold it), or "".

    Taking a label from everyone who has it amounts to deleting it (without Delete's
    safeguards), so only a label manager may. Contacts that queued or running jobs are taking
    it from already count as losing it: two changes of half the holders each are refused like
    one of all of them."""
    if user.has_perm("labels.delete_label"):
        return ""
    losing = set(losing_wix_ids)
    holders = ContactLabel.objects.filter(label_id=label.pk).count()
    if not losing or not holders:
        return ""
    pending: set[str] = set()
    active = (LabelJob.Status.QUEUED, LabelJob.Status.RUNNING)
    for keys, wix_ids in LabelJob.objects.filter(status__in=active).values_list(
        "remove_keys", "contact_ids"
    ):
        if label.key in keys:
            pending.update(wix_ids)
    pending = list(pending - losing)
    still_losing = sum(
        ContactLabel.objects.filter(
            label_id=label.pk, contact__wix_id__in=pending[start : start + 5000]
        ).count()
        for start in range(0, len(pending), 5000)
    )
    if len(losing) + still_losing < holders:
        return ""
    return (
        f"This would take “{label}” from every contact that has it"
        f"{', with the changes already under way' if still_losing else ''}, which amounts to "
        "deleting the label; only a label manager can do that. Narrow the change, or ask a "
        "label manager."
    )


def _refuse_taking_from_everyone(remove: Sequence[Label], per_key: dict, *, user) -> None:
    """Under a lock on each label (so two changes cannot both pass the check), refuse a change
    that takes a label from everyone who has it, unless the person is a label manager."""
    if not remove or user.has_perm("labels.delete_label"):
        return
    list(Label.objects.select_for_update().filter(pk__in=[label.pk for label in remove]))
    for label in remove:
        refusal = takes_from_everyone_refusal(label, per_key.get(label.key, ()), user=user)
        if refusal:
            raise TakesLabelFromEveryone(refusal)


def contacts_label_from_list_start(
    *, contact_list: ContactList, label: Label, remove: bool, user
) -> tuple[LabelJob, bool]:
    """Queue the change for the list's contacts that it would change, as one undoable
    operation; returns (the job, whether it is new). The same change asked again while its job
    is queued or running (a second tab) returns that job; once it ended (or was undone), it is
    worked out afresh. Raises `TakesLabelFromEveryone`."""
    change = f"{'remove' if remove else 'add'}:{label.key}"
    with transaction.atomic():
        kept = ContactList.objects.select_for_update().get(pk=contact_list.pk)
        earlier = LabelJob.objects.filter(pk=kept.jobs.get(change)).first()
        if earlier is not None and earlier.is_active:
            return earlier, False
        wix_ids = wix_ids_in_created_order(
            contact_list_changing(kept, label_pk=label.pk, remove=remove)
        )
        if remove:
            _refuse_taking_from_everyone([label], {label.key: wix_ids}, user=user)
        verb = f"Remove “{label}” from" if remove else f"Add “{label}” to"
        job = _bulk_job(
            f"{verb} contacts from {_list_source(kept)}",
            add=[] if remove else [label],
            remove=[label] if remove else [],
            per_key={label.key: wix_ids},
            user=user,
        )
        kept.jobs = {**kept.jobs, change: job.pk}
        kept.save(update_fields=["jobs"])
    return job, True


def _list_source(contact_list: ContactList) -> str:
    return contact_list.source if contact_list.source == PASTED else f"“{contact_list.source}”"


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


class AudienceRefused(ValueError):
    """Rules that cannot be saved (an audience including itself, one named that is gone), or an
    audience that cannot be deleted (others name it); the message says why."""


def audience_create(*, name: str, description: str = "", rules: SegmentRules, user) -> Audience:
    with transaction.atomic():
        audience = Audience.objects.create(
            name=name, description=description, rules=rules.as_json(), created_by=user
        )
        # Its id is known now: rules that name it (guessed) are refused with the rest.
        if problem := audience_rules_problem(audience.pk, rules):
            raise AudienceRefused(problem)
        _audience_logged(
            audience,
            user=user,
            summary=f"Save audience “{audience.name}”",
            action=ADDITION,
            message="Saved from the contacts page.",
        )
        transaction.on_commit(lambda: audience_sizes_record(audience_ids=[audience.pk]))
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
    from contacts.living import living_pass_queue  # here: contacts.living imports this module

    with transaction.atomic():
        stored = Audience.objects.select_for_update().get(pk=audience.pk)
        if rules is not None and (problem := audience_rules_problem(stored.pk, rules)):
            raise AudienceRefused(problem)
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
            if "rules" in changed:
                transaction.on_commit(lambda: audience_sizes_record(audience_ids=[stored.pk]))
                # Living audiences may name this one: their labels follow now, not at the
                # next regular pass.
                why = f"audience “{stored.name}” changed"
                transaction.on_commit(lambda: living_pass_queue(why=why))
    return stored


def _copy_name(name: str) -> str:
    """“Name (copy)”, or “Name (copy 2)” and on while another audience has it (one query)."""
    limit = Audience._meta.get_field("name").max_length
    taken = {
        n.casefold()
        for n in Audience.objects.filter(name__istartswith=name[: limit - 12]).values_list(
            "name", flat=True
        )
    }
    number = 1
    while True:
        suffix = " (copy)" if number == 1 else f" (copy {number})"
        candidate = name[: limit - len(suffix)] + suffix
        if candidate.casefold() not in taken:
            return candidate
        number += 1


def audience_duplicate(*, audience: Audience, user) -> Audience:
    with transaction.atomic():
        copy = Audience.objects.create(
            name=_copy_name(audience.name),
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
    """Delete a saved audience, unless others name it in their rules (they would lose part of
    what they match, and match more than they should). A living label it kept is stopped first,
    in the journal as a stop: the Wix label stays as it is."""
    from contacts.living import living_label_stop  # here: contacts.living imports this module

    with transaction.atomic():
        if naming := audiences_naming(audience.pk, lock=True):
            raise AudienceRefused(audience_named_refusal(audience, naming))
        if (living := LivingLabel.objects.filter(audience=audience).first()) is not None:
            living_label_stop(living=living, user=user)
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


def audience_sizes_record(*, audience_ids: Iterable[int] | None = None) -> int:
    """Count saved audiences now and keep each count as its figure for today (the day's last
    count, and the smallest and largest counted that day). All audiences, or those named.
    Returns how many were counted. One read of the rules, the counts (one query through the
    label index), one read and one write of today's rows."""
    audiences = Audience.objects.all()
    if audience_ids is not None:
        audiences = audiences.filter(pk__in=list(audience_ids))
    rules = {
        pk: SegmentRules.from_json(stored) for pk, stored in audiences.values_list("pk", "rules")
    }
    if not rules:
        return 0
    counts = contact_counts_for_segments(rules)
    now = timezone.now()
    today = timezone.localdate(now)
    with transaction.atomic():
        # Audiences deleted meanwhile are left out; the rest cannot be deleted until this ends.
        alive = set(
            Audience.objects.select_for_update().filter(pk__in=counts).values_list("pk", flat=True)
        )
        counts = {pk: n for pk, n in counts.items() if pk in alive}
        known = {
            row.audience_id: row
            for row in AudienceSize.objects.select_for_update().filter(
                day=today, audience_id__in=rules
            )
        }
        for row in known.values():
            n = counts[row.audience_id]
            row.count, row.counted_at = n, now
            row.smallest, row.largest = min(row.smallest, n), max(row.largest, n)
        AudienceSize.objects.bulk_update(
            known.values(), ["count", "smallest", "largest", "counted_at"]
        )
        AudienceSize.objects.bulk_create(
            AudienceSize(audience_id=pk, day=today, count=n, smallest=n, largest=n, counted_at=now)
            for pk, n in counts.items()
            if pk not in known
        )
    return len(counts)


def audiences_naming(audience_id: int, *, lock: bool = False) -> list[Audience]:
    """The saved audiences whose rules name this one (`lock`: they cannot change until the
    caller's transaction ends)."""
    others = Audience.objects.exclude(pk=audience_id).only("pk", "name", "rules").order_by("pk")
    if lock:
        others = others.select_for_update()
    return [
        other
        for other in others
        if audience_id in nested.audience_ids(SegmentRules.from_json(other.rules).tree)
    ]


def audience_named_refusal(audience: Audience, naming: Sequence[Audience]) -> str:
    names = ", ".join(f"“{other}”" for other in naming)
    return (
        f"“{audience}” cannot be deleted: {names} name{'s' if len(naming) == 1 else ''} it in "
        "their rules, and would match more than they should without it. Change those first."
    )
