"""Living labels: a saved audience kept in Wix as a label.

After contacts, labels or memberships change here (a sync page, a webhook, a bulk job, an
undo: every writer goes through `wixcache.store`, which tells `living_labels_nudge`), one pass
(`living_labels_keep`, a worker task) compares each living audience with its label's holders,
through the label index's bitmaps: the whole audience, in memory, so a pass converges whatever
was missed before it (a lost nudge, a "created in the last 30 days" that moved with the clock).
Contacts that entered get the label and those that left lose it: for each label, one operation
in the journal (how many entered and left, and why) and one bulk job per direction, within the
site's rate budget like every job. A label with a living job still queued or running is left
for the next pass (that job's own writes nudge it), so two passes never send the same change.

A living label whose label is gone (deleted here or in Wix) is paused, not stopped: restoring
the label (its undo) brings it back under a new key, which the living label follows. Stopping
deletes the living label and leaves the Wix label as it is.

Rules that read their own label, directly or through saved audiences or other living labels,
would chase their own tail (the label's change changes the audience): they are refused when a
label is made living and when a living audience's rules change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.tasks import TaskResultStatus
from django.utils import timezone
from django.utils.timesince import timesince
from django_tasks_db.models import DBTaskResult
from pyroaring import BitMap

from contacts import rules as nested
from contacts.models import Audience, LivingLabel
from contacts.segments import SegmentRules
from contacts.selectors import contact_list_for_segment, segment_members, segment_rules_whole
from contacts.services import audience_ref
from journal.models import Operation
from journal.references import label_names_known
from journal.services import operation_done, operation_plan
from labels.models import LabelJob
from labels.selectors import label_deleted_names
from labels.services import label_ref
from labels.tasks import label_job_start
from wixcache.index import LabelIndex, label_index
from wixcache.models import Contact, ContactLabel, Label

ACTIVE = (LabelJob.Status.QUEUED, LabelJob.Status.RUNNING)
BUSY = (*ACTIVE, LabelJob.Status.STUCK)
# A pass that would take the label from more than this share of its holders (and more than
# BRAKE_MIN contacts) waits for a person to confirm the number instead ("never delete on doubt").
BRAKE_SHARE, BRAKE_MIN = 0.5, 50
AGAIN_SECONDS = 5  # a pass that met busy labels looks again this much later
BY_IDS = 5000  # contact ids per query


class LivingRefused(ValueError):
    """A living label that cannot be started or kept as asked; the message says why."""


@dataclass
class Difference:
    """Who would enter the label (in the audience, without it) and who would leave it."""

    entering: BitMap = field(default_factory=BitMap)
    leaving: BitMap = field(default_factory=BitMap)

    def __bool__(self) -> bool:
        return bool(self.entering or self.leaving)

    @property
    def count(self) -> int:
        return len(self.entering) + len(self.leaving)


def living_difference(
    rules: SegmentRules,
    label: Label,
    index: LabelIndex | None = None,
    *,
    ids: dict[str, int] | None = None,
) -> Difference | None:
    """What keeping `label` equal to the audience of `rules` would change now: from the label
    index's bitmaps, or (inside a transaction, where the index steps aside) from the tables.
    None when the rules cannot be read whole (a label or audience they need is gone, a loop of
    audiences): they would match nobody, and nobody is not what they mean. `ids`: the labels'
    keys and pks, read once by a caller asking for many audiences (any label not in it is gone).
    """
    index = index or label_index()
    if ids is None:
        ids = dict(Label.objects.filter(key__in=rules.keys).values_list("key", "pk"))
    ids = {key: ids[key] for key in rules.keys if key in ids}
    if rules.keys - ids.keys() or not segment_rules_whole(rules):
        return None
    members = segment_members(rules, ids, index) if index is not None else None
    if members is not None:
        holders = index.label(label.pk)
        return Difference(members - holders, holders - members)
    audience = contact_list_for_segment(rules=rules, label_ids=ids).order_by()
    holders = ContactLabel.objects.filter(label_id=label.pk).values("contact_id")
    entering = audience.exclude(pk__in=holders).values_list("pk", flat=True)
    leaving = holders.exclude(contact_id__in=audience.values("pk")).values_list(
        "contact_id", flat=True
    )
    return Difference(BitMap(entering), BitMap(leaving))


def living_rules_gone(rules: SegmentRules, seen: frozenset[int] = frozenset()) -> list[str]:
    """What the rules name that is gone: labels (by their last known name) and saved audiences,
    through the audiences they name too. A living label waits while its rules have a hole: a
    deleted label in ALL of would otherwise take the label from every contact."""
    gone = []
    keys = rules.keys
    known = set(Label.objects.filter(key__in=keys).values_list("key", flat=True))
    if keys - known:
        names = label_names_known(keys - known) | label_deleted_names(keys - known)
        gone += [f"label “{names.get(key, key)}”" for key in sorted(keys - known)]
    named = nested.audience_ids(rules.tree) - seen
    stored = dict(Audience.objects.filter(pk__in=named).values_list("pk", "rules"))
    gone += [f"saved audience #{pk}" for pk in sorted(named - stored.keys())]
    for pk, data in stored.items():
        gone += living_rules_gone(SegmentRules.from_json(data), seen | named | {pk})
    return gone


def living_busy_keys() -> set[str]:
    """Keys of labels a job is still changing (or that Wix has not finished: stuck), whatever
    started it: while a restore refills a label the rules read, or a job changes the kept label
    itself, the label index is half way, and a pass would read a wrong difference."""
    busy: set[str] = set()
    for add, remove in LabelJob.objects.filter(status__in=BUSY).values_list(
        "add_keys", "remove_keys"
    ):
        busy.update(add, remove)
    return busy


# --- the pass -------------------------------------------------------------------------------


def living_labels_keep(*, why: str = "", dry_run: bool = False) -> dict[str, int]:
    """One pass over every living label: queue the changes that make each label equal to its
    audience. Returns how many labels were equal, changed, busy (a job under way: looked at
    again a few seconds later), paused (the label or a part of the rules gone) or waiting (a
    removal too large to make without a person's word). `dry_run`: count, write nothing (the
    benchmark's figure for reading the audiences apart from queueing the changes)."""
    counts = {"equal": 0, "changed": 0, "busy": 0, "paused": 0, "waiting": 0}
    livings = list(LivingLabel.objects.select_related("audience"))
    if not livings:
        return counts
    busy = living_busy_keys()  # read before the index: a job ending after it is seen as busy
    index = label_index()
    rules_of = {living.pk: SegmentRules.from_json(living.audience.rules) for living in livings}
    read = {living.label_key for living in livings}.union(*(r.keys for r in rules_of.values()))
    labels = {label.key: label for label in Label.objects.filter(key__in=read)}
    ids = {key: label.pk for key, label in labels.items()}
    equal, changes = [], []
    for living in livings:
        label, rules = labels.get(living.label_key), rules_of[living.pk]
        if label is None or label.is_system:
            counts["paused"] += 1
            continue
        if ({label.key} | _depends_on(rules)) & busy:
            counts["busy"] += 1
            continue
        difference = living_difference(rules, label, index, ids=ids)
        if difference is None:
            counts["paused"] += 1  # never take a label from everyone on rules with a hole
        elif dry_run:
            counts["changed" if difference else "equal"] += 1
        elif not difference:
            equal.append(living)
            counts["equal"] += 1
        elif _too_many_leaving(living, label, difference, index):
            counts["waiting"] += 1
        else:
            changes.append((living, label, difference))
    if equal or changes:
        counts["changed"] += _living_changes(changes, equal, why=why)
    if counts["busy"] and not dry_run:
        living_pass_queue(why="jobs under way", seconds=AGAIN_SECONDS)
    return counts


def _too_many_leaving(
    living: LivingLabel, label: Label, difference: Difference, index: LabelIndex | None
) -> bool:
    """Whether the change would take the label from so many holders that a person must say
    so first (the panel asks); it is said by confirming that number."""
    leaving = len(difference.leaving)
    if index is not None:
        holders = len(index.label(label.pk))
    else:
        holders = ContactLabel.objects.filter(label_id=label.pk).count()
    if leaving <= max(BRAKE_MIN, holders * BRAKE_SHARE) or leaving <= living.allow_leaving:
        if living.waiting:
            LivingLabel.objects.filter(pk=living.pk).update(waiting="")
        return False
    waiting = (
        f"This pass would take “{label}” from {leaving:,} of its {holders:,} contacts. That is "
        "more than labelsite changes without a person's word: check the audience's rules "
        "and the saved audiences they name, then confirm."
    )
    LivingLabel.objects.filter(pk=living.pk).update(waiting=waiting, waiting_leaving=leaving)
    return True


def _in_created_order(pks: BitMap) -> dict[int, str]:
    """The Wix ids of these contacts, by pk, in created order (a job's progress reads
    naturally). Contacts deleted meanwhile are left out."""
    pks = list(pks)
    rows = []
    for start in range(0, len(pks), BY_IDS):
        chunk = pks[start : start + BY_IDS]
        rows += Contact.objects.filter(pk__in=chunk).values_list(
            "remote_created_at", "pk", "wix_id"
        )
    return {pk: wix_id for _created, pk, wix_id in sorted(rows)}


def _living_changes(
    changes: list[tuple[LivingLabel, Label, Difference]], equal: list[LivingLabel], *, why: str
) -> int:
    """For each label that changed, its operation and its jobs, and for each label found equal,
    the time it was: all in one transaction, so that a crash leaves none of them half written
    (the next pass finds the same differences), and a page that changes many labels commits
    once. The living labels are locked first, in one order (two passes never deadlock), and
    one that another pass checked meanwhile is left to it, as is a label a job took meanwhile.
    Returns how many labels were queued."""
    entering_or_leaving = [d.entering | d.leaving for _, _, d in changes]
    order = _in_created_order(BitMap.union(*entering_or_leaving) if changes else BitMap())
    position, present = {pk: n for n, pk in enumerate(order)}, BitMap(order)

    def wix_ids(pks: BitMap) -> list[str]:
        return [order[pk] for pk in sorted(pks & present, key=position.__getitem__)]

    queued = 0
    with transaction.atomic():
        pks = sorted(living.pk for living in [*(c[0] for c in changes), *equal])
        locked = LivingLabel.objects.select_for_update().filter(pk__in=pks).order_by("pk")
        locked = {living.pk: living for living in locked}

        def unchanged(living: LivingLabel, key: str) -> LivingLabel | None:
            lock = locked.get(living.pk)
            if lock is None or lock.label_key != key or lock.checked_at != living.checked_at:
                return None  # stopped, moved to another key, or checked by another pass
            return lock

        still_equal = [lv.pk for lv in equal if unchanged(lv, lv.label_key)]
        if still_equal:
            LivingLabel.objects.filter(pk__in=still_equal).update(
                checked_at=timezone.now(), waiting=""
            )
        busy = living_busy_keys() if changes else set()
        for living, label, difference in changes:
            lock = unchanged(living, label.key)
            if lock is None or label.key in busy:
                continue
            entering, leaving = wix_ids(difference.entering), wix_ids(difference.leaving)
            _living_change(lock, living.audience, label, entering, leaving, why=why)
            queued += 1
    return queued


def _living_change(
    locked: LivingLabel,
    audience: Audience,
    label: Label,
    entering: list[str],
    leaving: list[str],
    *,
    why: str,
) -> None:
    """One label's operation and jobs, and its living label's counters (locked by the caller,
    inside its transaction)."""
    said = why or "contacts or labels changed"
    op = operation_plan(
        kind=Operation.Kind.LIVING_LABEL,
        user=None,
        summary=(
            f"Keep “{label}” equal to audience “{audience}”: {len(entering):,} entered, "
            f"{len(leaving):,} left"
        ),
        args={
            "audience": audience.pk,
            "key": label.key,
            "entered": len(entering),
            "left": len(leaving),
            "why": said,
        },
        refs=[label_ref(label), audience_ref(audience)],
    )
    jobs = (
        (entering, [label.key], [], f"Give “{label}” to contacts that entered"),
        (leaving, [], [label.key], f"Take “{label}” from contacts that left"),
    )
    for contact_ids, add, remove, what in jobs:
        if contact_ids:
            label_job_start(
                requested_by=None,
                description=f"{what} audience “{audience}”",
                contact_ids=contact_ids,
                add_keys=add,
                remove_keys=remove,
                kind=LabelJob.Kind.LIVING,
                operation=op,
            )
    locked.checked_at = timezone.now()
    locked.entered += len(entering)
    locked.left += len(leaving)
    locked.allow_leaving, locked.waiting = 0, ""  # a person's word is for one change
    locked.save(update_fields=["checked_at", "entered", "left", "allow_leaving", "waiting"])


# --- starting, stopping, checking -----------------------------------------------------------


ANY_LABEL = "*"  # what "only contacts with no labels" reads: every label, the kept one too


def _depends_on(rules: SegmentRules, seen: frozenset[int] = frozenset()) -> set[str]:
    """The label keys the rules read, through the saved audiences they name too (ANY_LABEL for
    rules that read whether a contact has any label at all)."""
    keys = set(rules.keys) | ({ANY_LABEL} if rules.unlabeled else set())
    named = nested.audience_ids(rules.tree) - seen
    if named:
        for pk, stored in Audience.objects.filter(pk__in=named).values_list("pk", "rules"):
            keys |= _depends_on(SegmentRules.from_json(stored), seen | named | {pk})
    return keys


def living_loop(audience: Audience, rules: SegmentRules, key: str) -> str:
    """Why keeping `rules` as label `key` would chase its own tail, or "": the rules read the
    label, or read a label kept living by an audience that (through others) reads this one."""
    kept_by = {
        living.label_key: living.audience
        for living in LivingLabel.objects.select_related("audience").exclude(audience=audience)
    }
    name = Label.objects.filter(key=key).values_list("display_name", flat=True).first() or key
    reads, path, queue = _depends_on(rules), {}, []
    for dep in reads:
        path[dep] = []
        queue.append(dep)
    while queue:
        at = queue.pop()
        if at == ANY_LABEL:
            through = "".join(f" through audience “{a}”" for a in path[at])
            return (
                f"These rules{through} ask for contacts with no labels at all: giving them "
                f"“{name}” would take them out of the audience again. Take that condition out."
            )
        if at == key:
            through = "".join(f" through audience “{a}”" for a in path[at])
            return (
                f"These rules read “{name}”{through}, the label they would keep: each change "
                "of the label would change the audience again. Take that condition out first."
            )
        other = kept_by.get(at)
        if other is None:
            continue
        for dep in _depends_on(SegmentRules.from_json(other.rules)):
            if dep not in path:
                path[dep] = [*path[at], other.name]
                queue.append(dep)
    return ""


def living_label_start(*, audience: Audience, label: Label, user) -> LivingLabel:
    """Keep `label` equal to the audience from now on. The first pass is queued at once."""
    if label.is_system:
        raise LivingRefused(f"“{label}” is a system label: Wix does not let anyone change it.")
    rules = SegmentRules.from_json(audience.rules)
    with transaction.atomic():
        locked = Audience.objects.select_for_update().get(pk=audience.pk)
        if LivingLabel.objects.filter(audience=locked).exists():
            raise LivingRefused(f"“{locked}” is kept as a living label already.")
        other = LivingLabel.objects.filter(label_key=label.key).select_related("audience").first()
        if other is not None:
            raise LivingRefused(
                f"“{label}” is kept by audience “{other.audience}” already; a label can follow "
                "one audience only."
            )
        if refusal := living_loop(locked, rules, label.key):
            raise LivingRefused(refusal)
        living = LivingLabel.objects.create(audience=locked, label_key=label.key, started_by=user)
        op = operation_plan(
            kind=Operation.Kind.LIVING_LABEL,
            user=user,
            summary=f"Start keeping “{label}” equal to audience “{locked}”",
            args={"audience": locked.pk, "key": label.key, "started": True},
            refs=[label_ref(label), audience_ref(locked)],
        )
        operation_done(op, outcome="The first pass is queued.")
        transaction.on_commit(lambda: living_pass_queue(why=f"started by {user}"))
    return living


def living_label_stop(*, living: LivingLabel, user) -> None:
    """Stop keeping the label: it stays in Wix, on the contacts that have it now."""
    with transaction.atomic():
        locked = (
            LivingLabel.objects.select_for_update()
            .select_related("audience")
            .filter(pk=living.pk)
            .first()
        )
        if locked is None:
            return
        label = Label.objects.filter(key=locked.label_key).first()
        name = label.display_name if label else locked.label_key
        op = operation_plan(
            kind=Operation.Kind.LIVING_LABEL,
            user=user,
            summary=f"Stop keeping “{name}” equal to audience “{locked.audience}”",
            args={"audience": locked.audience_id, "key": locked.label_key, "stopped": True},
            refs=[*([label_ref(label)] if label else []), audience_ref(locked.audience)],
        )
        operation_done(op, outcome="The label stays as it is.")
        locked.delete()


def living_key_replace(sender, *, old_key: str, new_key: str, **kwargs) -> None:
    """A deleted label came back under a new key: its living label follows it (and resumes)."""
    LivingLabel.objects.filter(label_key=old_key).update(label_key=new_key)


@dataclass
class LivingStatus:
    living: LivingLabel
    label: Label | None  # None: the label is gone (paused)
    pending: int | None  # changes not made yet (queued, or not noticed yet); None: paused
    jobs: list[LabelJob]
    rules_gone: list[str]  # what the rules name that is gone (paused)
    gone_name: str = ""  # the kept label's last known name, when it is gone
    checked: str = ""  # when it was last brought up to date, in words ("just now")


def living_status(living: LivingLabel) -> LivingStatus:
    """What the audience page says: the label, how many changes are pending, the jobs under
    way."""
    label = Label.objects.filter(key=living.label_key).first()
    gone_name = ""
    if label is None:
        key = living.label_key
        gone_name = {**label_names_known({key}), **label_deleted_names({key})}.get(key, key)
    checked = ""
    if living.checked_at is not None:
        recent = timezone.now() - living.checked_at < timedelta(minutes=1)
        checked = "just now" if recent else f"{timesince(living.checked_at)} ago"
    jobs = list(LabelJob.objects.filter(kind=LabelJob.Kind.LIVING, status__in=BUSY).order_by("pk"))
    jobs = [job for job in jobs if living.label_key in (*job.add_keys, *job.remove_keys)]
    rules = SegmentRules.from_json(living.audience.rules)
    gone = living_rules_gone(rules)
    pending = None
    if label is not None and not gone:
        difference = living_difference(rules, label)
        pending = difference.count if difference is not None else None
    return LivingStatus(living, label, pending, jobs, gone, gone_name, checked)


def living_labels_for_keys(keys) -> dict[str, LivingLabel]:
    """The living labels among these keys, by key, with their audiences."""
    return {
        living.label_key: living
        for living in LivingLabel.objects.filter(label_key__in=set(keys)).select_related("audience")
    }


# --- the nudge ------------------------------------------------------------------------------


def living_labels_nudge() -> None:
    """Told by `wixcache.store` that something was written: once the writing transaction
    commits, a pass is queued (unless one is queued already, or nothing is living)."""
    transaction.on_commit(living_pass_nudged)


def living_pass_nudged() -> bool:
    """A pass `LIVING_PASS_DELAY_SECONDS` from now, which every change until then joins: a
    burst of webhooks (Wix telling of a bulk change contact by contact) makes one pass, not one
    per contact. Late webhooks may still tell a contact's state from before a job this cache
    has already applied, and a pass would send that contact's change again: the fewer passes
    in such a burst, the fewer of those."""
    return living_pass_queue(
        why="contacts or labels changed", seconds=settings.LIVING_PASS_DELAY_SECONDS
    )


def living_pass_queue(*, why: str = "", seconds: float = 0) -> bool:
    """Queue a pass (in `seconds`), unless one is waiting already or nothing is living. Returns
    whether one was queued."""
    from contacts.tasks import keep_living_labels  # here: contacts.tasks imports this module

    if not LivingLabel.objects.exists():
        return False
    waiting = DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, task_path=keep_living_labels.module_path
    )
    if not seconds:
        waiting = waiting.ready()  # due now: a later one does not make a nudge wait
    if waiting.exists():
        return False
    task = keep_living_labels
    if seconds:
        task = task.using(run_after=timezone.now() + timedelta(seconds=seconds))
    task.enqueue(why=why)
    return True


def living_removal_refusal(label: Label, leaving: int, *, user) -> str:
    """Taking a label from everyone who has it is a label manager's action, here as in a bulk
    change (`contacts.services.takes_from_everyone_refusal`)."""
    if not leaving or user.has_perm("labels.delete_label"):
        return ""
    if leaving < ContactLabel.objects.filter(label_id=label.pk).count():
        return ""
    return (
        f"Keeping “{label}” living this way would take it from every contact that has it, which "
        "amounts to deleting the label; only a label manager can do that."
    )


def living_allow(living: LivingLabel, leaving: int) -> None:
    """A person's word: the next change may take the label from up to `leaving` contacts."""
    LivingLabel.objects.filter(pk=living.pk).update(allow_leaving=leaving, waiting="")
    transaction.on_commit(lambda: living_pass_queue(why="confirmed by a person"))
