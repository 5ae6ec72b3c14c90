"""Reads for the label pages. Each function costs a fixed number of queries, whatever the rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower
from django.utils import timezone

from journal.models import Operation, OperationRef
from journal.services import undo_seconds
from labels.models import LabelDeletion, LabelJob, LabelNote
from wixcache.index import label_index
from wixcache.models import Contact, ContactLabel, Label

# Names sort as people read them: "spring promo" beside "Spring Sale", not after "Yoga Class"
# (Lower works alike on SQLite and PostgreSQL); the key breaks ties.
_BY_NAME = (Lower("display_name").asc(), "display_name", "key")
ORDERINGS: dict[str, tuple] = {
    "name": _BY_NAME,
    "-name": (Lower("display_name").desc(), "-display_name", "-key"),
    "contacts": ("contact_count", *_BY_NAME),
    "-contacts": ("-contact_count", *_BY_NAME),
    "changed": (F("remote_updated_at").asc(nulls_first=True), *_BY_NAME),
    "-changed": (F("remote_updated_at").desc(nulls_last=True), *_BY_NAME),
}
DEFAULT_ORDER = "name"
# What starts a word in a label's name ("Spring Sale", "Sale-2024", "VIP (gold)").
WORD_BREAKS = (" ", "-", "_", "/", "(", "&", "+", ",", ".")
CONTACTS_SHOWN = 25
HISTORY_SHOWN = 10


def looks_like_key(text: str) -> bool:
    """Every Wix label key is `namespace.name`; a name rarely holds a dot."""
    return "." in text


def normalized_name(name: str) -> str:
    """What two names have in common when they differ only in case or spacing."""
    return " ".join(name.split()).casefold()


def with_notes(labels: QuerySet[Label]) -> QuerySet[Label]:
    """Each label with its local note's `note_description` and `note_colour` ("" without one),
    in the same query."""
    notes = LabelNote.objects.filter(key=OuterRef("key"))
    return labels.annotate(
        note_description=Subquery(notes.values("description")[:1]),
        note_colour=Subquery(notes.values("colour")[:1]),
    )


def described(text: str) -> Q:
    """Labels whose local description holds `text`."""
    return Q(key__in=LabelNote.objects.filter(description__icontains=text).values("key"))


def label_list(*, query: str = "", order: str = DEFAULT_ORDER) -> QuerySet[Label]:
    """Labels whose names or descriptions hold `query` (and whose keys do, when it looks like a
    key: every user key starts with "custom."), each with `contact_count` and its note, in one
    query."""
    labels = with_notes(Label.objects.annotate(contact_count=Count("contacts")))
    query = query.strip()
    if query:
        matches = Q(display_name__icontains=query) | described(query)
        if looks_like_key(query):
            matches |= Q(key__icontains=query)
        labels = labels.filter(matches)
    return labels.order_by(*ORDERINGS.get(order, ORDERINGS[DEFAULT_ORDER]))


def label_get(*, key: str) -> Label | None:
    if "\x00" in key:
        return None  # no label has it, and PostgreSQL refuses NUL in a query
    return with_notes(
        Label.objects.filter(key=key).annotate(contact_count=Count("contacts"))
    ).first()


def label_contacts_newest(*, label: Label, limit: int = CONTACTS_SHOWN) -> list[Contact]:
    """The contacts that have `label`, newest first (the first page of the label's page)."""
    return list(
        label.contacts.order_by("-remote_created_at", "-wix_id").only(
            "pk", "wix_id", "first_name", "last_name", "email", "phone", "remote_created_at"
        )[:limit]
    )


def label_operations_recent(*, key: str, limit: int = HISTORY_SHOWN) -> tuple[list[Operation], int]:
    """The newest journal entries that touched the label `key`, and how many there are."""
    ops = Operation.objects.filter(
        pk__in=OperationRef.objects.filter(kind=OperationRef.Kind.LABEL, ref=key).values(
            "operation_id"
        )
    )
    recent = ops.defer("args", "reverse").select_related("user").order_by("-created_at", "-id")
    return list(recent[:limit]), ops.count()


def label_deletion_latest(*, key: str) -> LabelDeletion | None:
    """The last deletion (or merge) of the label that had `key`, if labelsite made one."""
    if "\x00" in key:
        return None
    return (
        LabelDeletion.objects.filter(key=key)
        .select_related("deleted_by")
        .defer("contact_ids")
        .order_by("-deleted_at", "-pk")
        .first()
    )


def label_near_duplicates(*, display_name: str) -> list[Label]:
    """Labels whose names equal `display_name` but for case or spacing (not exactly equal)."""
    wanted = normalized_name(display_name)
    return [
        label
        for label in Label.objects.only("pk", "key", "display_name", "label_type")
        if label.display_name != display_name and normalized_name(label.display_name) == wanted
    ]


def contacts_total() -> int:
    return Contact.objects.count()


def label_contact_ids(*, label: Label) -> list[str]:
    """Wix ids of the contacts that have `label`, as the cache knows them."""
    return list(label.contacts.order_by().values_list("wix_id", flat=True))


def label_merge_gainers(*, sources: list[Label], target: Label) -> QuerySet:
    """Contact pks that have any source label but not the target: those a merge changes."""
    has_target = ContactLabel.objects.filter(label_id=target.pk).values("contact_id")
    return (
        ContactLabel.objects.filter(label_id__in=[s.pk for s in sources])
        .exclude(contact_id__in=has_target)
        .order_by()
        .values("contact_id")
        .distinct()
    )


@dataclass(frozen=True)
class MergePlan:
    """A merge of the ticked labels, as the person would start it."""

    ticked: list[Label]  # each with `contact_count`, most used first
    target: Label | None  # None only when every label was deleted since they were ticked
    sources: list[Label]
    locked: list[Label]  # system labels among the sources: Wix will not delete them
    gained: int  # contacts that gain the target


def label_merge_plan(*, ticked: Iterable[Label], target: Label | None = None) -> MergePlan:
    """Merge the ticked labels into `target`: one of them, or another label picked by name (then
    every ticked label is merged away). Without a target, into a ticked system label (which
    cannot be merged away) or else the most used one. One ticked label and no other target is a
    plan without sources: the page asks which label to merge it into."""
    pks = {label.pk for label in ticked} | ({target.pk} if target else set())
    counted = {
        label.pk: label
        for label in Label.objects.filter(pk__in=pks).annotate(contact_count=Count("contacts"))
    }
    labels = sorted(
        (counted[label.pk] for label in ticked if label.pk in counted),
        key=lambda label: (-label.contact_count, label.display_name),
    )
    chosen = counted.get(target.pk) if target else None
    if chosen is None and not labels:  # every label was deleted since the form found them
        return MergePlan(ticked=[], target=None, sources=[], locked=[], gained=0)
    if chosen is None:
        chosen = ([label for label in labels if label.is_system] or labels)[0]
    sources = [label for label in labels if label.pk != chosen.pk]
    return MergePlan(
        ticked=labels,
        target=chosen,
        sources=sources,
        locked=[label for label in sources if label.is_system],
        gained=label_merge_gainers(sources=sources, target=chosen).count(),
    )


def label_deletions_open() -> QuerySet[LabelDeletion]:
    """Deletions that can still be undone: recent, not restored, and (merges) finished."""
    since = timezone.now() - timedelta(seconds=undo_seconds())
    finished = [LabelJob.Status.SUCCEEDED, LabelJob.Status.PARTIAL]
    return (
        LabelDeletion.objects.filter(restored_at__isnull=True, deleted_at__gte=since)
        .filter(Q(merge_job__isnull=True) | Q(merge_job__status__in=finished))
        # Written before Wix was asked: only a deletion Wix carried out can be undone.
        .filter(Q(operation__isnull=True) | Q(operation__state=Operation.State.DONE))
        .select_related("deleted_by")
        .defer("contact_ids")
    )


def label_jobs_active(*, user) -> QuerySet[LabelJob]:
    """This person's merges and restores still running: the page shows their progress."""
    return LabelJob.objects.filter(
        requested_by=user,
        kind__in=[LabelJob.Kind.MERGE, LabelJob.Kind.RESTORE],
        status__in=[LabelJob.Status.QUEUED, LabelJob.Status.RUNNING],
    ).defer("contact_ids")


def label_map_for_keys(keys: Iterable[str]) -> dict[str, Label]:
    keys = set(keys)
    if not keys:
        return {}
    return {label.key: label for label in with_notes(Label.objects.filter(key__in=keys))}


def label_list_for_search(
    *, text: str, exclude: Iterable[str] = (), limit: int = 10
) -> list[Label]:
    """Labels whose names or descriptions hold `text` (never matched against keys), best match
    first: a name starting with it, then a word of the name starting with it, then the rest of
    the names, then descriptions; ties by name. Each has `contact_count` and its note; one
    query."""
    labels = with_notes(
        Label.objects.exclude(key__in=list(exclude)).annotate(contact_count=Count("contacts"))
    )
    text = (text or "").strip()
    if not text:
        return list(labels.order_by(*_BY_NAME)[:limit])
    word_start = Q()
    for mark in WORD_BREAKS:
        word_start |= Q(display_name__icontains=mark + text)
    rank = Case(
        When(display_name__istartswith=text, then=Value(0)),
        When(word_start, then=Value(1)),
        When(display_name__icontains=text, then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )
    labels = labels.filter(Q(display_name__icontains=text) | described(text)).alias(rank=rank)
    return list(labels.order_by("rank", *_BY_NAME)[:limit])


def label_with_name(name: str) -> Label | None:
    """The label called exactly `name` (the one Wix's find-or-create would find), if cached."""
    return Label.objects.filter(display_name=name).first()


def label_key_successors(keys) -> dict[str, str]:
    """For deleted label keys whose label was restored (Wix gave it a new key): the key it has
    now, following a restore of a restore. Keys never restored are left out."""
    found: dict[str, str] = {}
    latest = {key: key for key in keys}
    for _hop in range(10):  # a label deleted and restored ten times over is followed no further
        rows = dict(
            LabelDeletion.objects.filter(key__in=set(latest.values()), restored_at__isnull=False)
            .exclude(restored_key="")
            .values_list("key", "restored_key")
        )
        moved = {old: rows[now] for old, now in latest.items() if now in rows}
        if not moved:
            break
        latest.update(moved)
        found.update(moved)
    return found


def label_deleted_names(keys) -> dict[str, str]:
    """The names deleted labels had, by their (old) key."""
    return dict(
        LabelDeletion.objects.filter(key__in=list(keys))
        .order_by("key", "deleted_at")  # the newest name wins
        .values_list("key", "display_name")
    )


def label_jobs_of(op: Operation) -> list[LabelJob]:
    return list(LabelJob.objects.filter(operation=op).order_by("pk"))


def label_restored_by(op: Operation) -> list[LabelDeletion]:
    """The deleted labels an undo made again (each with its new key in `restored_key`)."""
    steps = op.args.get("steps", [])
    ids = [step["deletion"] for step in steps if step["type"] == "restore"]
    restored = LabelDeletion.objects.filter(pk__in=ids, restored_at__isnull=False)
    return list(restored.defer("contact_ids"))


def label_jobs_for_contact(*, wix_id: str, limit: int = 10) -> list[LabelJob]:
    """Recent bulk jobs whose snapshot held this contact (the newest thirty are looked at).

    The database looks inside the id lists; they never travel to Python (a job may hold 100k)."""
    recent = list(LabelJob.objects.order_by("-created_at").values_list("pk", flat=True)[:30])
    jobs = LabelJob.objects.filter(pk__in=recent)
    if connection.vendor == "postgresql":
        jobs = jobs.filter(contact_ids__contains=[wix_id])
    else:
        held = RawSQL(
            "EXISTS (SELECT 1 FROM json_each(labels_labeljob.contact_ids) WHERE value = %s)",
            (wix_id,),
            output_field=BooleanField(),
        )
        jobs = jobs.alias(held=held).filter(held=True)
    return list(
        jobs.only("pk", "kind", "status", "description", "created_at", "outcome").order_by(
            "-created_at", "-id"
        )[:limit]
    )


OVERLAP_SIZES = (6, 12, 20)


@dataclass(frozen=True)
class Overlap:
    """How the most used labels share contacts: `labels` (most used first, each with
    `contact_count` and its note) and, for each pair, how many contacts have both."""

    labels: list[Label]
    both: dict[tuple[int, int], int]  # (label pk, label pk) -> contacts with both, both ways

    def pair(self, a: Label, b: Label) -> int:
        return a.contact_count if a.pk == b.pk else self.both.get((a.pk, b.pk), 0)


def label_overlap(*, size: int = 12) -> Overlap:
    """The `size` labels with the most contacts and how many contacts each pair shares: from
    the label index (one intersection count per pair, in memory) where it may answer, else in
    one query joining the memberships to themselves. Two queries besides."""
    index = label_index()
    if index is not None:
        counts = {pk: len(bitmap) for pk, bitmap in index.labels.items() if bitmap}
    else:
        counts = dict(
            ContactLabel.objects.values("label_id")
            .annotate(n=Count("contact_id"))
            .values_list("label_id", "n")
        )
    top = sorted(counts, key=lambda pk: (-counts[pk], pk))[:size]
    labels = {label.pk: label for label in with_notes(Label.objects.filter(pk__in=top))}
    chosen = [labels[pk] for pk in top if pk in labels]
    for label in chosen:
        label.contact_count = counts[label.pk]
    pks = [label.pk for label in chosen]
    both: dict[tuple[int, int], int] = {}
    if index is not None:
        for i, a in enumerate(pks):
            for b in pks[i + 1 :]:
                both[a, b] = both[b, a] = index.label(a).intersection_cardinality(index.label(b))
    elif len(pks) > 1:
        pairs = (
            ContactLabel.objects.filter(label_id__in=pks)
            .annotate(other=F("contact__contactlabel__label_id"))
            .filter(other__in=pks, label_id__lt=F("other"))
            .values("label_id", "other")
            .annotate(n=Count("contact_id"))
            .values_list("label_id", "other", "n")
        )
        for a, b, n in pairs:
            both[a, b] = both[b, a] = n
    return Overlap(chosen, both)
