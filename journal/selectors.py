"""Reading the journal for people: the history list (site-wide or of one thing), its filters'
choices, and each operation's person and touched things in plain words."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    When,
)
from django.db.models import Value as V
from django.utils import timezone

from journal.models import Operation, OperationRef
from wixcache.models import Contact, Label

# A bulk change can touch thousands of contacts: a page shows this many things per row.
REFS_SHOWN = 10
REF_ORDER = [OperationRef.Kind.LABEL, OperationRef.Kind.AUDIENCE, OperationRef.Kind.CONTACT]
# Changes with no person behind them: told by Wix, or done by labelsite itself.
FROM_WIX = {Operation.Kind.SYNC, Operation.Kind.WEBHOOK}
WIX_ACTOR = "Wix (sync)"
LABELSITE_ACTOR = "labelsite"


@dataclass(frozen=True)
class OperationFilter:
    user_id: int | None = None
    kind: str = ""
    state: str = ""
    date_from: date | None = None
    date_to: date | None = None
    ref_kind: str = ""  # with `ref`: only operations that touched this thing
    ref: str = ""


@dataclass(frozen=True)
class Touched:
    """One thing an operation touched, ready to print: `show_ref` when its name alone is not
    enough to tell it from another thing of the same name on the same page."""

    kind: str
    ref: str
    name: str
    show_ref: bool = False

    @property
    def text(self) -> str:
        name = self.name or self.ref
        return f"{name} ({self.ref})" if self.show_ref else name


def _ref_order() -> Case:
    return Case(
        *(When(kind=kind, then=V(i)) for i, kind in enumerate(REF_ORDER)),
        output_field=IntegerField(),
    )


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def operation_list(*, filters: OperationFilter, refs_shown: int | None = REFS_SHOWN) -> QuerySet:
    """Operations newest first, with the person and the touched things (at most `refs_shown`
    per operation, all when None) loaded in a fixed number of queries; never `args`/`reverse`."""
    refs = OperationRef.objects.only("operation_id", "kind", "ref", "name").order_by(
        _ref_order(), "name", "ref"
    )
    if refs_shown is not None:
        refs = refs[:refs_shown]
    ops = (
        Operation.objects.defer("args", "reverse")
        .select_related("user")
        .prefetch_related(Prefetch("refs", queryset=refs, to_attr="touched_refs"))
        .order_by("-created_at", "-id")
    )
    if refs_shown is not None:
        counted = (
            OperationRef.objects.filter(operation=OuterRef("pk"))
            .order_by()
            .values("operation")
            .annotate(n=Count("pk"))
            .values("n")
        )
        ops = ops.annotate(refs_total=Subquery(counted, output_field=IntegerField()))
    if filters.user_id is not None:
        ops = ops.filter(user_id=filters.user_id)
    if filters.kind:
        ops = ops.filter(kind=filters.kind)
    if filters.state:
        ops = ops.filter(state=filters.state)
    if filters.date_from:
        ops = ops.filter(created_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        ops = ops.filter(created_at__lt=_day_start(filters.date_to + timedelta(days=1)))
    if filters.ref_kind:
        touched = OperationRef.objects.filter(kind=filters.ref_kind, ref=filters.ref)
        ops = ops.filter(pk__in=touched.values("operation_id"))
    return ops


def operation_people() -> QuerySet:
    """Everyone who appears in the history, for the person filter."""
    User = get_user_model()
    # One index look-up per person: people are few, the history is long.
    acted = Exists(Operation.objects.filter(user=OuterRef("pk")))
    return User.objects.filter(acted).order_by(User.USERNAME_FIELD)


def operation_ref_name(*, kind: str, ref: str) -> str:
    """The newest name the history knows for a thing ("" when it has none)."""
    return (
        OperationRef.objects.filter(kind=kind, ref=ref)
        .exclude(name="")
        .order_by("-pk")
        .values_list("name", flat=True)
        .first()
        or ""
    )


def operation_actor(op: Operation) -> str:
    if op.user is not None:
        return op.user.get_username()
    return WIX_ACTOR if op.kind in FROM_WIX else LABELSITE_ACTOR


def touched_by_kind(ops: list[Operation]) -> dict[int, dict[str, list[Touched]]]:
    """Each operation's prefetched refs grouped by kind (labels, audiences, contacts). A ref's
    key or id is shown only where two different things of one kind share a name among `ops`."""
    refs_of_name: dict[tuple[str, str], set[str]] = defaultdict(set)
    for op in ops:
        for ref in op.touched_refs:
            refs_of_name[ref.kind, ref.name or ref.ref].add(ref.ref)
    grouped: dict[int, dict[str, list[Touched]]] = {}
    for op in ops:
        groups: dict[str, list[Touched]] = {kind: [] for kind in REF_ORDER}
        for ref in op.touched_refs:
            same_name = len(refs_of_name[ref.kind, ref.name or ref.ref]) > 1
            groups[ref.kind].append(Touched(ref.kind, ref.ref, ref.name, show_ref=same_name))
        grouped[op.pk] = groups
    return grouped


def cached_label_exists(*, key: str) -> bool:
    return Label.objects.filter(key=key).exists()


def cached_contact_pk(*, wix_id: str) -> int | None:
    return Contact.objects.filter(wix_id=wix_id).values_list("pk", flat=True).first()
