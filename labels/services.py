"""Label changes made by people: each an operation in the journal, written before Wix is
asked; Wix first, then the cache, each with an admin LogEntry.

When Wix refuses, the `WixError` reaches the caller, the operation fails and nothing changes
here; when Wix does not answer, the operation stays open and is settled against Wix later
(`labels.settle`). Rules Wix enforces (system labels are read-only, names are 1..180
characters) are checked first.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections import defaultdict
from datetime import timedelta

from django.contrib.admin.models import ADDITION, CHANGE, DELETION
from django.db import IntegrityError, transaction
from django.utils import timezone

from journal.models import Operation, OperationRef
from journal.references import label_names_known
from journal.services import (
    asking_wix,
    hands_over_on_error,
    operation_done,
    operation_keys_replace,
    operation_plan,
    operation_refs_add,
    undo_seconds,
)
from labels.history import contacts_counted, contacts_noun, label_log, sync_user
from labels.models import LabelDeletion, LabelJob, LabelNote
from labels.selectors import label_contact_ids, label_deleted_names, label_merge_gainers
from labels.tasks import label_job_start, run_label_job
from labelsite.wix import WixClient, WixConflict, WixNotFound
from wixcache.budget import site_client
from wixcache.models import Contact, ContactLabel, Label
from wixcache.store import (
    label_store,
    labels_delete,
    labels_gone_mark,
    memberships_write_lock,
)

NAME_MAX_LENGTH = 180
# Invisible characters that make two names look alike or turn the text around: bidi embeddings,
# overrides and isolates, zero-width space, word joiner, byte order mark. Zero-width joiners stay
# (emoji sequences and many scripts need them), and so do the left/right-to-left marks.
INVISIBLE = frozenset(
    "\u200b\u2060\ufeff"
    + "".join(map(chr, range(0x202A, 0x202F)))
    + "".join(map(chr, range(0x2066, 0x206A)))
)


class LabelError(Exception):
    """A label change labelsite refuses; `str()` is a sentence for the person who asked."""


class LabelReadOnly(LabelError):
    pass


class LabelStale(LabelError):
    """The label changed (or vanished) in Wix or here since the page showed it.

    `label` is the label as it is now, or None when it no longer exists.
    """

    def __init__(self, message: str, *, label: Label | None) -> None:
        super().__init__(message)
        self.label = label


def control_character_problem(text: str) -> str:
    """Why `text` cannot be one line of plain text (control characters), or ""."""
    bad = next((c for c in text if unicodedata.category(c) in ("Cc", "Cs")), None)
    if bad is None:
        return ""
    if bad == "\x00":
        return "Null characters are not allowed."
    return (
        "Control characters (line breaks, tabs and the like) are not allowed; "
        f"this text has U+{ord(bad):04X}."
    )


def display_name_problem(name: str) -> str:
    """Why `name` (trimmed) cannot be a label name, or "": the rules Wix's names follow."""
    if not name:
        return "Type a name for the label."
    if len(name) > NAME_MAX_LENGTH:
        return f"Names can have at most {NAME_MAX_LENGTH} characters; this one has {len(name)}."
    if problem := control_character_problem(name):
        return problem
    bad = next((c for c in name if c in INVISIBLE), None)
    if bad is not None:
        return (
            "Names cannot contain invisible characters that hide or reverse text; "
            f"this one has U+{ord(bad):04X}."
        )
    return ""


def clean_display_name(display_name: str) -> str:
    name = display_name.strip()
    if problem := display_name_problem(name):
        raise LabelError(problem)
    return name


def label_ref(label) -> tuple[str, str, str]:
    return (OperationRef.Kind.LABEL, label.key, label.display_name)


def forget_gone(label: Label) -> None:
    """The label vanished from Wix: the cache follows, as a sync would."""
    with transaction.atomic():
        label_log(
            user=sync_user(),
            label=label,
            action=DELETION,
            message=f"Deleted in Wix (key {label.key}); removed from the cache.",
        )
        memberships_write_lock()
        labels_delete([label.pk])


def _refuse_system(label: Label, action: str) -> None:
    if label.is_system:
        raise LabelReadOnly(
            f"“{label.display_name}” is a system label: Wix does not let anyone {action} it."
        )


def label_create(*, display_name: str, user) -> tuple[Label, bool]:
    """Wix's find-or-create; returns (label, created). An exact match is returned, not made."""
    name = clean_display_name(display_name)
    op = operation_plan(
        kind=Operation.Kind.LABEL_CREATE,
        user=user,
        summary=f"Create label “{name}”",
        args={"name": name, "gone_after": labels_gone_mark()},
    )
    with asking_wix(op), site_client(interactive=True) as client:
        record, created = client.find_or_create_label(name)
    return label_created(op, record, created=created, user=user), created


@hands_over_on_error
def label_created(op: Operation, record, *, created: bool, user) -> Label:
    """The cache and the journal follow a label Wix made (or already had: unless it was
    deleted meanwhile, here or in Wix, after Wix answered)."""
    with transaction.atomic():
        stored = label_store(record, gone_after=op.args.get("gone_after"))
        label = stored.label
        if stored.gone:
            operation_done(op, outcome=GONE_MEANWHILE, args={**op.args, "key": label.key})
        else:
            if created:
                label_log(
                    user=user or sync_user(),
                    label=label,
                    action=ADDITION,
                    message=f"Created “{label.display_name}” in Wix (key {label.key}).",
                )
            operation_refs_add(op, [label_ref(label)])
            outcome = "Made in Wix." if created else "Wix had a label of that name already."
            operation_done(op, outcome=outcome, args={**op.args, "key": label.key})
    if stored.gone:
        raise LabelStale(label_gone_meanwhile(record.display_name), label=None)
    return label


GONE_MEANWHILE = "Wix had a label of that name, and it was deleted meanwhile: nothing was made."


def label_gone_meanwhile(name: str) -> str:
    return (
        f"Wix had a label called “{name}”, and it was deleted while you were asking for it; "
        "nothing was made. Try again to make it anew."
    )


def label_rename(*, label: Label, display_name: str, expected_name: str, user) -> Label:
    """Rename in Wix, then here. `expected_name` is the name the person saw; if the label has
    changed since, nothing is renamed and `LabelStale` carries the label as it is now."""
    name = clean_display_name(display_name)
    _refuse_system(label, "rename")
    if label.display_name != expected_name:
        raise LabelStale(
            f"Someone renamed this label to “{label.display_name}” while you were editing; "
            "nothing was changed. Here it is as it is now.",
            label=label,
        )
    if name == label.display_name:
        return label
    op = operation_plan(
        kind=Operation.Kind.LABEL_RENAME,
        user=user,
        summary=f"Rename label “{expected_name}” to “{name}”",
        args={"key": label.key, "from": expected_name, "to": name},
        refs=[label_ref(label)],
    )
    with asking_wix(op), site_client(interactive=True) as client:
        try:
            mark = labels_gone_mark()
            current = client.get_label(label.key)
            if current.display_name != expected_name:
                stored = label_store(current, gone_after=mark)
                if stored.gone:  # deleted here after Wix answered: it stays deleted
                    raise LabelStale(
                        f"“{expected_name}” was deleted meanwhile, so it cannot be renamed.",
                        label=None,
                    )
                label = stored.label
                raise LabelStale(
                    f"This label was renamed in Wix to “{label.display_name}” meanwhile; "
                    "nothing was changed. Here it is as it is now.",
                    label=label,
                )
            renamed = client.rename_label(label.key, name)
        except WixNotFound:
            forget_gone(label)
            raise LabelStale(
                f"“{expected_name}” was deleted in Wix meanwhile, so it cannot be renamed.",
                label=None,
            ) from None
        except WixConflict:
            raise LabelError(
                f"Another label is already called “{name}”. Pick another name, "
                "or merge the two labels."
            ) from None
    return label_renamed(op, renamed, user=user)


@hands_over_on_error
def label_renamed(op: Operation, record, *, user) -> Label:
    with transaction.atomic():
        # Someone may have deleted the label here while Wix renamed it: then it stays deleted.
        label = Label.objects.select_for_update().filter(key=record.key).first()
        if label is None:
            operation_done(op, outcome="Renamed in Wix; the label was deleted here meanwhile.")
        else:
            old_name = label.display_name
            label = label_store(record).label
            label_log(
                user=user or sync_user(),
                label=label,
                action=CHANGE,
                message=f"Renamed from “{old_name}” to “{label.display_name}” (key {label.key}).",
            )
            operation_refs_add(op, [label_ref(label)])
            operation_done(op, outcome="Renamed in Wix.")
    if label is None:  # raised after the block, so that the operation's outcome is kept
        raise LabelStale(f"“{op.args['from']}” was deleted while you were renaming it.", label=None)
    return label


def label_delete(*, label: Label, expected_name: str, user) -> LabelDeletion:
    """Delete in Wix, then here. What undoes it (the label's name and contacts) is written down,
    with the operation, before Wix is asked."""
    _refuse_system(label, "delete")
    if label.display_name != expected_name:
        raise LabelStale(
            f"This label is now called “{label.display_name}”; nothing was deleted. "
            "Check it and try again.",
            label=label,
        )
    with transaction.atomic():
        # The label row locked: of two tabs deleting it at once, the second sees the first.
        Label.objects.select_for_update().filter(pk=label.pk).first()
        pending = Operation.objects.filter(
            kind=Operation.Kind.LABEL_DELETE,
            state__in=Operation.OPEN_STATES,
            refs__kind=OperationRef.Kind.LABEL,
            refs__ref=label.key,
        )
        if pending.exists():
            raise LabelError(
                f"A deletion of “{label.display_name}” is already under way (or being checked "
                "with Wix); its outcome shows in the history."
            )
        op = operation_plan(
            kind=Operation.Kind.LABEL_DELETE,
            user=user,
            summary=f"Delete label “{label.display_name}”",
            args={"key": label.key, "name": label.display_name},
            refs=[label_ref(label)],
        )
    return label_delete_for(op, label=label, user=user)


def label_delete_for(op: Operation, *, label: Label, user, finish: bool = True) -> LabelDeletion:
    """Delete `label` as (part of) operation `op`: the undo record first, then Wix, then here.
    `finish`: the operation is done with it (else it is one step of an undo)."""
    with transaction.atomic():
        contact_ids = label_contact_ids(label=label)
        deletion = LabelDeletion.objects.create(
            display_name=label.display_name,
            key=label.key,
            label_type=label.label_type,
            contact_ids=contact_ids,
            contact_count=len(contact_ids),
            deleted_by=user if getattr(user, "pk", None) else None,
            operation=op,
        )
    # Already gone from Wix (WixNotFound): the cache follows, and undo still works.
    with (
        asking_wix(op),
        site_client(interactive=True) as client,
        contextlib.suppress(WixNotFound),
    ):
        client.delete_label(label.key)
    label_deleted(op, deletion, user=user, finish=finish)
    return deletion


@hands_over_on_error
def label_deleted(op: Operation, deletion: LabelDeletion, *, user, finish: bool = True) -> None:
    """Wix deleted the label: the cache follows, and the operation is done, undoable."""
    with transaction.atomic():
        memberships_write_lock()
        label = Label.objects.select_for_update().filter(key=deletion.key).first()
        if label is not None:
            label_log(
                user=user or sync_user(),
                label=label,
                action=DELETION,
                message=(
                    f"Deleted “{deletion.display_name}” (key {deletion.key}); "
                    f"{contacts_counted(deletion.contact_count)} lost it."
                ),
            )
            labels_delete([label.pk])
        if finish:
            reverse = [{"type": "restore", "deletion": deletion.pk}]
            operation_done(
                op, outcome=f"{contacts_counted(deletion.contact_count)} lost it.", reverse=reverse
            )


def label_deletion_operation(deletion: LabelDeletion) -> Operation:
    """The operation whose undo restores `deletion`: its own, or, for one recorded before the
    journal existed, one written now from it (a merge's deletions together)."""
    if deletion.operation_id is not None:
        return Operation.objects.get(pk=deletion.operation_id)
    with transaction.atomic():
        deletion = LabelDeletion.objects.select_for_update().get(pk=deletion.pk)
        if deletion.operation_id is not None:
            return Operation.objects.get(pk=deletion.operation_id)
        job = deletion.merge_job
        group = list(LabelDeletion.objects.filter(merge_job=job)) if job else [deletion]
        reverse = [{"type": "restore", "deletion": d.pk} for d in group if d.restored_at is None]
        if job is not None and reverse and job.contact_ids:
            reverse.append({"type": "labels", "remove": job.add_keys, "contacts": job.contact_ids})
        names = ", ".join(f"“{d.display_name}”" for d in group)
        summary = (
            f"Merge {names} into “{deletion.merged_into}”"
            if job
            else f"Delete label “{deletion.display_name}”"
        )
        op = Operation.objects.create(
            kind=Operation.Kind.LABEL_MERGE if job else Operation.Kind.LABEL_DELETE,
            state=Operation.State.DONE if reverse else Operation.State.REVERSED,
            user=deletion.deleted_by,
            summary=summary,
            args={"key": deletion.key, "name": deletion.display_name},
            reverse=reverse,
            finished_at=deletion.deleted_at,
            undo_until=deletion.deleted_at + timedelta(seconds=undo_seconds()),
        )
        operation_refs_add(op, [(OperationRef.Kind.LABEL, d.key, d.display_name) for d in group])
        LabelDeletion.objects.filter(pk__in=[d.pk for d in group]).update(operation=op)
    return op


def label_merge(*, sources: list[Label], target: Label, user) -> LabelJob:
    """Queue a merge: every contact with a source label gets the target; then the sources go.
    The operation, its job and the sources' undo records are written in one transaction, before
    anything is sent to Wix."""
    sources = [s for s in sources if s.pk != target.pk]
    if not sources:
        raise LabelError("Pick at least one other label to merge into the target.")
    for source in sources:
        _refuse_system(source, "merge away (delete)")
    contact_ids_by_label: dict[int, list[str]] = defaultdict(list)
    for label_id, wix_id in ContactLabel.objects.filter(
        label_id__in=[s.pk for s in sources]
    ).values_list("label_id", "contact__wix_id"):
        contact_ids_by_label[label_id].append(wix_id)
    gained = list(
        Contact.objects.filter(
            pk__in=label_merge_gainers(sources=sources, target=target)
        ).values_list("wix_id", flat=True)
    )
    names = ", ".join(f"“{s.display_name}”" for s in sources)
    with transaction.atomic():
        op = operation_plan(
            kind=Operation.Kind.LABEL_MERGE,
            user=user,
            summary=f"Merge {names} into “{target.display_name}”",
            args={"target": target.key, "sources": [s.key for s in sources]},
            refs=[label_ref(target), *map(label_ref, sources)],
        )
        job = label_job_start(
            requested_by=user,
            description=f"Merge {names} into “{target.display_name}”",
            contact_ids=gained,
            add_keys=[target.key],
            kind=LabelJob.Kind.MERGE,
            delete_keys_after=[s.key for s in sources],
            operation=op,
        )
        deletions = LabelDeletion.objects.bulk_create(
            [
                LabelDeletion(
                    display_name=source.display_name,
                    key=source.key,
                    label_type=source.label_type,
                    contact_ids=contact_ids_by_label[source.pk],
                    contact_count=len(contact_ids_by_label[source.pk]),
                    deleted_by=user,
                    merge_job=job,
                    merged_into=target.display_name,
                    operation=op,
                )
                for source in sources
            ]
        )
        op.reverse = [
            *({"type": "restore", "deletion": d.pk} for d in deletions),
            {"type": "labels", "remove": [target.key], "contacts": gained},
        ]
        op.save(update_fields=["reverse"])
        label_log(
            user=user,
            label=target,
            action=CHANGE,
            message=(
                f"Merge of {names} into “{target.display_name}” started: "
                f"{contacts_counted(len(gained))} gain it; the merged labels are deleted after."
            ),
        )
    return job


def label_job_retry_failed(*, job: LabelJob, requested_by) -> LabelJob:
    """A new job for the contacts that failed in `job`, with the same labels; once, however
    often it is asked while that job runs."""
    failed_ids = job.failed_contact_ids
    if not failed_ids:
        raise LabelError("This job has no failed contacts that Wix named; run a sync instead.")
    with transaction.atomic():
        # One retry per job at a time: the job row is locked while the retry is made.
        LabelJob.objects.select_for_update().filter(pk=job.pk).first()
        running = LabelJob.objects.filter(
            retry_of=job.pk, status__in=[LabelJob.Status.QUEUED, LabelJob.Status.RUNNING]
        ).first()
        if running is not None:
            return running
        keys = job.add_keys + job.remove_keys
        names = dict(Label.objects.filter(key__in=keys).values_list("key", "display_name"))
        failed = f"{len(failed_ids)} failed {contacts_noun(len(failed_ids))}"
        description = f"Retry {failed} of: {job.description}"
        op = operation_plan(
            kind=Operation.Kind.BULK_LABELS,
            user=requested_by,
            summary=description,
            args={"add": job.add_keys, "remove": job.remove_keys, "count": len(failed_ids)},
            reverse=bulk_reverse(job.add_keys, job.remove_keys, failed_ids),
            refs=[(OperationRef.Kind.LABEL, key, names.get(key, "")) for key in keys],
        )
        return label_job_start(
            requested_by=requested_by,
            description=description,
            contact_ids=failed_ids,
            add_keys=job.add_keys,
            remove_keys=job.remove_keys,
            kind=LabelJob.Kind.APPLY,
            operation=op,
            retry_of=job,
        )


def bulk_reverse(add_keys, remove_keys, contact_ids, *, per_key: dict | None = None) -> list:
    """Undo steps of a bulk change: the contacts that gained a label lose it, and those that
    lost one get it back. `per_key` gives each key's own contacts, when they differ."""
    steps = [
        {"type": "labels", "remove": [key], "contacts": (per_key or {}).get(key, contact_ids)}
        for key in add_keys
    ]
    steps += [
        {"type": "labels", "add": [key], "contacts": (per_key or {}).get(key, contact_ids)}
        for key in remove_keys
    ]
    return [step for step in steps if step["contacts"]]


def label_job_look_again(*, job: LabelJob) -> LabelJob:
    """Follow a stuck job's Wix job again, in the background."""
    stuck = LabelJob.objects.filter(pk=job.pk, status=LabelJob.Status.STUCK)
    if stuck.update(status=LabelJob.Status.QUEUED):  # once, however often it is asked
        transaction.on_commit(lambda: run_label_job.enqueue(job.pk))
    job.refresh_from_db(fields=["status"])
    return job


# --- Undo steps (see journal.undo) ------------------------------------------------------------


def same_name_label(name: str) -> Label | None:
    return Label.objects.filter(display_name=name).first()


def restore_check(step: dict) -> None:
    deletion = LabelDeletion.objects.filter(pk=step["deletion"]).first()
    if deletion is None:
        raise LabelError("The record of that deleted label is gone; it cannot be restored.")
    if deletion.restored_at is not None:
        return
    clash = same_name_label(deletion.display_name)
    if clash is not None:
        raise LabelError(
            f"A label called “{clash.display_name}” exists again (key {clash.key}), and it is "
            "not the deleted one: Wix would hand the contacts to it. Rename or delete that "
            "label, then undo."
        )


def restore_run(step: dict, *, op: Operation, user, client: WixClient | None = None):
    """Make a deleted label again (Wix gives it a new key) and give it back to its contacts."""
    deletion = LabelDeletion.objects.get(pk=step["deletion"])
    if deletion.restored_at is None:
        restore_check(step)
        mark = labels_gone_mark()
        with asking_wix(op), contextlib.ExitStack() as stack:
            wix = client or stack.enter_context(site_client(interactive=True))
            record, created = wix.find_or_create_label(deletion.display_name)
        if not created:
            label_store(record, gone_after=mark)
            raise LabelError(
                f"Wix has a label called “{record.display_name}” again (key {record.key}), "
                "and it is not the deleted one. Rename or delete that label, then undo."
            )
        label_restored(op, deletion, record, user=user)
        deletion.refresh_from_db()
    reverse = [{"type": "delete", "key": deletion.restored_key, "name": deletion.display_name}]
    return reverse, deletion.restore_job_id is not None


@hands_over_on_error
def label_restored(op: Operation, deletion: LabelDeletion, record, *, user) -> None:
    """Wix made the label again: the cache, every reference to the old key, the undo record and
    the job that gives it back to its contacts, in one transaction."""
    with transaction.atomic():
        deletion = LabelDeletion.objects.select_for_update().get(pk=deletion.pk)
        if deletion.restored_at is not None:
            return
        label = label_store(record).label
        operation_keys_replace(old_key=deletion.key, new_key=label.key, name=label.display_name)
        # The note follows the label; one written on the new key meanwhile (in the moment since
        # Wix made it) is kept instead, and the old one stays under the old key.
        with contextlib.suppress(IntegrityError), transaction.atomic():
            LabelNote.objects.filter(key=deletion.key).update(key=label.key)
        job = None
        if deletion.contact_ids:
            job = label_job_start(
                requested_by=user,
                description=(
                    f"Restore “{deletion.display_name}” "
                    f"to {contacts_counted(deletion.contact_count)}"
                ),
                contact_ids=deletion.contact_ids,
                add_keys=[label.key],
                kind=LabelJob.Kind.RESTORE,
                operation=op,
            )
        deletion.restored_at = timezone.now()
        deletion.restored_key = label.key
        deletion.restore_job = job
        deletion.save(update_fields=["restored_at", "restored_key", "restore_job"])
        op.args = {**op.args, "changed_before_jobs": True}
        Operation.objects.filter(pk=op.pk).update(args=op.args)
        label_log(
            user=user or sync_user(),
            label=label,
            action=ADDITION,
            message=(
                f"Restored “{deletion.display_name}” as key {label.key} (was {deletion.key}); "
                f"giving it back to {contacts_counted(deletion.contact_count)}."
            ),
        )


def delete_check(step: dict) -> None:
    label = Label.objects.filter(key=step["key"]).first()
    if label is not None:
        _refuse_system(label, "delete")


def delete_run(step: dict, *, op: Operation, user):
    label = Label.objects.filter(key=step["key"]).first()
    if label is None:
        return [], False  # gone already: nothing to delete, nothing to restore
    deletion = label_delete_for(op, label=label, user=user, finish=False)
    return [{"type": "restore", "deletion": deletion.pk}], False


def labels_check(step: dict) -> None:
    """A label to give back must exist (a deleted one is restored by undoing its deletion)."""
    missing = set(step.get("add", [])) - set(
        Label.objects.filter(key__in=step.get("add", [])).values_list("key", flat=True)
    )
    if missing:
        known = {**label_names_known(missing), **label_deleted_names(missing)}
        names = ", ".join(f"“{known[key]}”" if key in known else key for key in sorted(missing))
        raise LabelError(
            f"A label this would give back no longer exists ({names}); undo its deletion first."
        )


def labels_run(step: dict, *, op: Operation, user):
    labels_check(step)
    add, remove = step.get("add", []), step.get("remove", [])
    names = {label.key: label.display_name for label in Label.objects.filter(key__in=add + remove)}
    if remove and not names:
        # The label is gone (deleted since, perhaps by undoing its restore): nobody has it,
        # so there is nothing to take away, and nothing to give back later.
        step["job"] = None
        Operation.objects.filter(pk=op.pk).update(args=op.args)
        return [], False
    verb, keys = ("give back", add) if add else ("take away", remove)
    what = ", ".join(f"“{names.get(key, key)}”" for key in keys)
    with transaction.atomic():
        job = label_job_start(
            requested_by=user,
            description=f"Undo: {verb} {what} ({contacts_counted(len(step['contacts']))})",
            contact_ids=step["contacts"],
            add_keys=add,
            remove_keys=remove,
            kind=LabelJob.Kind.RESTORE if add else LabelJob.Kind.APPLY,
            operation=op,
        )
        # Marked in the journal with the job, so that a crash after this point knows it ran.
        step["job"] = job.pk
        Operation.objects.filter(pk=op.pk).update(args=op.args)
    return [labels_swapped(step)], True


def labels_swapped(step: dict) -> dict:
    swapped = {"type": "labels", "contacts": step["contacts"]}
    swapped.update({"remove": step["add"]} if step.get("add") else {"add": step["remove"]})
    return swapped


# --- Local notes --------------------------------------------------------------------------------


def label_note_save(
    *, label: Label, description: str, colour: str, expected: tuple[str, str], user
) -> LabelNote:
    """Keep what a label is for, and its colour, here: Wix has no field for them, so nothing is
    sent to Wix. `expected` is the (description, colour) the page showed: if someone changed the
    note since, nothing is saved and `LabelNoteStale` carries the note as it is now. A change
    goes in the label's history."""
    description = "\n".join(line.rstrip() for line in description.strip().splitlines())
    # A browser sends a form's own line breaks as CRLF, hidden fields too.
    expected = (expected[0].replace("\r\n", "\n").replace("\r", "\n"), expected[1])
    if len(description) > LabelNote.DESCRIPTION_MAX_LENGTH:
        raise LabelError(
            f"A description can be at most {LabelNote.DESCRIPTION_MAX_LENGTH} characters; "
            f"this one has {len(description)}."
        )
    if colour not in LabelNote.Colour.values:
        raise LabelError("Pick one of the colours on offer, or none.")
    with transaction.atomic():
        # The label's row locked: two first notes at once are one after the other, and a label
        # deleted meanwhile is seen.
        if not Label.objects.select_for_update().filter(key=label.key).exists():
            raise LabelStale(
                f"“{label.display_name}” was deleted meanwhile; the note was not kept.", label=None
            )
        note = LabelNote.objects.filter(key=label.key).first() or LabelNote(key=label.key)
        if (note.description, note.colour) == (description, colour):
            return note  # saved already (by this person or another): nothing to say
        if (note.description, note.colour) != expected:
            raise LabelNoteStale(note)
        said = []
        if description != note.description:
            said.append("description cleared" if not description else "description changed")
        if colour != note.colour:
            said.append(f"colour set to {colour}" if colour else "colour taken away")
        note.description, note.colour = description, colour
        note.updated_by = user if getattr(user, "pk", None) else None
        note.save()
        label_log(
            user=user,
            label=label,
            action=CHANGE,
            message=f"Note (kept here, not in Wix): {', '.join(said)}.",
        )
    return note


class LabelNoteStale(LabelError):
    """Someone changed the note since the page showed it; `note` is the note as it is now."""

    def __init__(self, note: LabelNote) -> None:
        super().__init__(
            "Someone changed this note while you were editing; nothing was saved. Theirs is "
            "shown above, yours in the form: save again to keep yours."
        )
        self.note = note
