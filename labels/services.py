"""Label changes made by people: Wix first, then the cache, each with an admin LogEntry.

When Wix refuses or is down, the `WixError` reaches the caller and nothing changes here. Rules
Wix enforces (system labels are read-only, names are 1..180 characters) are checked first.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.admin.models import ADDITION, CHANGE, DELETION
from django.db import transaction
from django.utils import timezone

from labels.history import label_log, sync_user
from labels.models import LabelDeletion, LabelJob
from labels.selectors import label_contact_ids, label_merge_gainers, undo_seconds
from labels.tasks import label_job_start, run_label_job
from labelsite.wix import WixConflict, WixNotFound
from wixcache.budget import site_client
from wixcache.models import Contact, ContactLabel, Label
from wixcache.store import label_store, labels_delete

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


def _forget_gone(label: Label) -> None:
    """The label vanished from Wix: the cache follows, as a sync would."""
    with transaction.atomic():
        label_log(
            user=sync_user(),
            label=label,
            action=DELETION,
            message=f"Deleted in Wix (key {label.key}); removed from the cache.",
        )
        labels_delete([label.pk])


def _refuse_system(label: Label, action: str) -> None:
    if label.is_system:
        raise LabelReadOnly(
            f"“{label.display_name}” is a system label: Wix does not let anyone {action} it."
        )


def label_create(*, display_name: str, user) -> tuple[Label, bool]:
    """Wix's find-or-create; returns (label, created). An exact match is returned, not made."""
    name = clean_display_name(display_name)
    with site_client(interactive=True) as client:
        record, created = client.find_or_create_label(name)
    with transaction.atomic():
        label = label_store(record).label
        if created:
            label_log(
                user=user,
                label=label,
                action=ADDITION,
                message=f"Created “{label.display_name}” in Wix (key {label.key}).",
            )
    return label, created


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
    with site_client(interactive=True) as client:
        try:
            current = client.get_label(label.key)
            if current.display_name != expected_name:
                label = label_store(current).label
                raise LabelStale(
                    f"This label was renamed in Wix to “{label.display_name}” meanwhile; "
                    "nothing was changed. Here it is as it is now.",
                    label=label,
                )
            renamed = client.rename_label(label.key, name)
        except WixNotFound:
            _forget_gone(label)
            raise LabelStale(
                f"“{expected_name}” was deleted in Wix meanwhile, so it cannot be renamed.",
                label=None,
            ) from None
        except WixConflict:
            raise LabelError(
                f"Another label is already called “{name}”. Pick another name, "
                "or merge the two labels."
            ) from None
    with transaction.atomic():
        # Someone may have deleted the label here while Wix renamed it: then it stays deleted.
        label = Label.objects.select_for_update().filter(pk=label.pk).first()
        if label is None:
            raise LabelStale(
                f"“{expected_name}” was deleted while you were renaming it.", label=None
            )
        old_name = label.display_name
        label = label_store(renamed).label
        label_log(
            user=user,
            label=label,
            action=CHANGE,
            message=f"Renamed from “{old_name}” to “{label.display_name}” (key {label.key}).",
        )
    return label


def label_delete(*, label: Label, expected_name: str, user) -> LabelDeletion:
    """Delete in Wix, then here, keeping what is needed to undo it."""
    _refuse_system(label, "delete")
    if label.display_name != expected_name:
        raise LabelStale(
            f"This label is now called “{label.display_name}”; nothing was deleted. "
            "Check it and try again.",
            label=label,
        )
    contact_ids = label_contact_ids(label=label)
    with site_client(interactive=True) as client, contextlib.suppress(WixNotFound):
        # Already gone from Wix: the cache follows, and undo still works.
        client.delete_label(label.key)
    with transaction.atomic():
        deletion = LabelDeletion.objects.create(
            display_name=label.display_name,
            key=label.key,
            label_type=label.label_type,
            contact_ids=contact_ids,
            contact_count=len(contact_ids),
            deleted_by=user,
        )
        label_log(
            user=user,
            label=label,
            action=DELETION,
            message=(
                f"Deleted “{label.display_name}” (key {label.key}); "
                f"{len(contact_ids)} contacts lost it."
            ),
        )
        labels_delete([label.pk])
    return deletion


def label_merge(*, sources: list[Label], target: Label, user) -> LabelJob:
    """Queue a merge: every contact with a source label gets the target; then the sources go."""
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
        job = label_job_start(
            requested_by=user,
            description=f"Merge {names} into “{target.display_name}”",
            contact_ids=gained,
            add_keys=[target.key],
            kind=LabelJob.Kind.MERGE,
            delete_keys_after=[s.key for s in sources],
        )
        LabelDeletion.objects.bulk_create(
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
                )
                for source in sources
            ]
        )
        label_log(
            user=user,
            label=target,
            action=CHANGE,
            message=(
                f"Merge of {names} into “{target.display_name}” started: "
                f"{len(gained)} contacts gain it; the merged labels are deleted after."
            ),
        )
    return job


@dataclass
class UndoResult:
    restored: list[LabelDeletion] = field(default_factory=list)  # with `restored_key` set
    jobs: list[LabelJob] = field(default_factory=list)


def label_deletion_undo(*, deletion: LabelDeletion, user) -> UndoResult:
    """Make deleted labels again and give them back to exactly their contacts.

    A merged-away label is restored with the rest of its merge, and the contacts that gained
    the target only through the merge lose it again. Restored deletions carry `restored_key`
    (Wix never reuses a key, so it differs from `key`).
    """
    if deletion.restored_at is not None:
        raise LabelError(f"“{deletion.display_name}” has already been restored.")
    if deletion.deleted_at < timezone.now() - timedelta(seconds=undo_seconds()):
        raise LabelError(f"It is too late to undo the deletion of “{deletion.display_name}”.")
    group = [deletion]
    merge_job = deletion.merge_job
    if merge_job is not None:
        if merge_job.is_active:
            raise LabelError("The merge is still running; undo it once it has finished.")
        group = list(LabelDeletion.objects.filter(merge_job=merge_job, restored_at__isnull=True))
    result = UndoResult()
    with site_client(interactive=True) as client:
        for item in group:
            record, _created = client.find_or_create_label(item.display_name)
            with transaction.atomic():
                label = label_store(record).label
                job = label_job_start(
                    requested_by=user,
                    description=f"Restore “{item.display_name}” to {item.contact_count} contacts",
                    contact_ids=item.contact_ids,
                    add_keys=[label.key],
                    kind=LabelJob.Kind.RESTORE,
                )
                item.restored_at = timezone.now()
                item.restored_key = label.key
                item.restore_job = job
                item.save(update_fields=["restored_at", "restored_key", "restore_job"])
                label_log(
                    user=user,
                    label=label,
                    action=ADDITION,
                    message=(
                        f"Restored “{item.display_name}” as key {label.key} (was {item.key}); "
                        f"giving it back to {item.contact_count} contacts."
                    ),
                )
            result.restored.append(item)
            result.jobs.append(job)
    if merge_job is not None and merge_job.contact_ids:
        target = Label.objects.filter(key__in=merge_job.add_keys).first()
        if target is not None:
            job = label_job_start(
                requested_by=user,
                description=(
                    f"Undo merge: take “{target.display_name}” from the "
                    f"{len(merge_job.contact_ids)} contacts that gained it"
                ),
                contact_ids=merge_job.contact_ids,
                remove_keys=[target.key],
                kind=LabelJob.Kind.RESTORE,
            )
            result.jobs.append(job)
    return result


def label_job_retry_failed(*, job: LabelJob, requested_by) -> LabelJob:
    """A new job for the contacts that failed in `job`, with the same labels."""
    if not job.failed_contact_ids:
        raise LabelError("This job has no failed contacts that Wix named; run a sync instead.")
    return label_job_start(
        requested_by=requested_by,
        description=f"Retry {len(job.failed_contact_ids)} failed contacts of: {job.description}",
        contact_ids=job.failed_contact_ids,
        add_keys=job.add_keys,
        remove_keys=job.remove_keys,
        kind=LabelJob.Kind.APPLY,
    )


def label_job_look_again(*, job: LabelJob) -> LabelJob:
    """Follow a stuck job's Wix job again, in the background."""
    stuck = LabelJob.objects.filter(pk=job.pk, status=LabelJob.Status.STUCK)
    if stuck.update(status=LabelJob.Status.QUEUED):  # once, however often it is asked
        transaction.on_commit(lambda: run_label_job.enqueue(job.pk))
    job.refresh_from_db(fields=["status"])
    return job
