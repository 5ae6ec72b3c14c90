"""Reads of contacts by audience rules.

The label rules run on `ContactLabel` alone, through its (label, contact) index: ALL of is an
intersection of one label's members per key, ANY of one IN list, NONE of a NOT IN. Pages walk
the (remote_created_at, wix_id) index keyset-style, so page 4,000 costs what page 1 costs.

Counts are cached under the segment version, a value that database triggers change on every
write to contacts or memberships (migration 0003): a cached count is never stale, and an
audience viewed again, or listed among saved audiences, costs one indexed read.
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.expressions import RawSQL
from django.utils import timezone
from pyroaring import BitMap

from contacts import rules as nested
from contacts.models import Audience
from contacts.segments import SegmentRules
from labels.models import LabelNote
from labels.selectors import label_deleted_names
from wixcache.index import LabelIndex, label_index
from wixcache.models import SORT_EMAIL, SORT_NAME, Contact, ContactLabel, Label

ORDER = ("remote_created_at", "wix_id")
# What a page can be sorted by, each walking its own (key, wix_id) index: the created date, or
# the name or email as `wixcache.models` spells them for their expression indexes.
SORT_KEYS = {"created": F("remote_created_at"), "name": SORT_NAME, "email": SORT_EMAIL}


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: the sort key of the row at its edge, and that row's Wix id.

    Written as "<date>~<id>" for the created order, "<sort>:<key>~<id>" for the others, so a
    cursor is only ever read for the order it was written in."""

    key: datetime | str
    wix_id: str
    sort: str = "created"

    def __str__(self) -> str:
        if isinstance(self.key, datetime):
            return f"{self.key.isoformat()}~{self.wix_id}"
        return f"{self.sort}:{self.key}~{self.wix_id}"

    @classmethod
    def of(cls, contact: Contact, sort: str = "created") -> Cursor:
        if sort == "created":
            return cls(contact.remote_created_at, contact.wix_id)
        return cls(contact.sort_key, contact.wix_id, sort)

    @classmethod
    def parse(cls, text: str, *, sort: str = "created") -> Cursor | None:
        """The cursor `str` wrote for that sort, or None if the text is not one."""
        key, sep, wix_id = text.rpartition("~")
        if not sep or not wix_id:
            return None
        if sort != "created":
            tag, colon, key = key.partition(":")
            return cls(key, wix_id, sort) if colon and tag == sort else None
        try:
            at = datetime.fromisoformat(key)
        except ValueError:
            return None
        return cls(at, wix_id) if at.tzinfo is not None else None


@dataclass
class ContactPage:
    contacts: list[Contact]
    has_next: bool
    has_previous: bool
    sort: str = "created"  # without the "-": the key its cursors carry

    @property
    def next_cursor(self) -> Cursor | None:
        if self.has_next and self.contacts:
            return Cursor.of(self.contacts[-1], self.sort)
        return None

    @property
    def previous_cursor(self) -> Cursor | None:
        if self.has_previous and self.contacts:
            return Cursor.of(self.contacts[0], self.sort)
        return None


def _members(label_ids: list[int]) -> QuerySet:
    if len(label_ids) == 1:
        return ContactLabel.objects.filter(label_id=label_ids[0]).values("contact_id")
    return ContactLabel.objects.filter(label_id__in=label_ids).values("contact_id")


def _has(label_ids: list[int], outer: str = "pk") -> Exists:
    memberships = ContactLabel.objects.filter(contact_id=OuterRef(outer))
    if len(label_ids) == 1:
        return Exists(memberships.filter(label_id=label_ids[0]))
    if connection.vendor == "sqlite":
        # SQLite would seek the (label, contact) index once per label; reading the contact's
        # few memberships in one (contact, label) range is a fifth faster. `+ 0` steers it there.
        memberships = memberships.alias(any_label=F("label_id") + 0)
        return Exists(memberships.filter(any_label__in=label_ids))
    return Exists(memberships.filter(label_id__in=label_ids))


def _search_q(text: str, prefix: str = "") -> Q:
    query = Q()
    for word in text.split():
        query &= (
            Q(**{f"{prefix}first_name__icontains": word})
            | Q(**{f"{prefix}last_name__icontains": word})
            | Q(**{f"{prefix}email__icontains": word})
            | Q(**{f"{prefix}phone__icontains": word})
        )
    return query


NOTHING = Q(pk__in=[])


def segment_filter(
    rules: SegmentRules,
    *,
    label_ids: dict[str, int],
    probe: bool = True,
    refs: _Refs | None = None,
) -> Q:
    """The rules as one WHERE clause on Contact. Keys missing from `label_ids` match nothing.

    `probe` checks each contact against the labels (EXISTS on the (contact, label) index): best
    when walking contacts in created order until a page is full and the audience is broad. Without
    it, label groups become IN sets read from the (label, contact) index: best for narrow ones.
    """
    if any(k not in label_ids for k in (*rules.all_of,)) or (
        rules.any_of and not any(k in label_ids for k in rules.any_of)
    ):
        return NOTHING
    query = Q()
    for key in rules.all_of:
        ids = [label_ids[key]]
        query &= Q(_has(ids)) if probe else Q(pk__in=_members(ids))
    if rules.any_of:
        ids = [label_ids[k] for k in rules.any_of if k in label_ids]
        query &= Q(_has(ids)) if probe else Q(pk__in=_members(ids))
    none_ids = [label_ids[k] for k in rules.none_of if k in label_ids]
    if none_ids:
        query &= ~Q(_has(none_ids))
    if rules.unlabeled:
        query &= ~Exists(ContactLabel.objects.filter(contact_id=OuterRef("pk")))
    if rules.search:
        query &= _search_q(rules.search)
    if (tree := rules.nested_rule) is not None:
        try:
            query &= _tree_q(tree, label_ids, probe, refs or _Refs())
        except Unresolvable:
            if refs is not None:
                raise  # up to the rule being read, which then matches nobody
            return NOTHING
    return query


def _tree_q(tree: nested.Group, ids: dict[str, int], probe: bool, refs: _Refs) -> Q:
    def label(key: str) -> Q:
        if key not in ids:
            return NOTHING
        return Q(_has([ids[key]])) if probe else Q(pk__in=_members([ids[key]]))

    def condition(node: nested.Condition) -> Q:
        if node.kind != "audience":
            return _field_q(node)
        if (node.audience, probe) not in refs.queries:
            with refs.inside(node.audience) as rules:
                sub_ids = _label_ids(rules, None)
                refs.queries[node.audience, probe] = segment_filter(
                    rules, label_ids=sub_ids, probe=probe, refs=refs
                )
        return refs.queries[node.audience, probe]

    return nested.evaluate(
        tree,
        label=label,
        condition=condition,
        everyone=Q,
        nobody=lambda: NOTHING,
        both=operator.and_,
        either=operator.or_,
        without=lambda a, b: a & ~b,
    )


def _field_q(node: nested.Condition) -> Q:
    """A contact-field condition of a nested rule (created dates in the site's time zone)."""
    match node.kind:
        case "email":
            return ~Q(email="")
        case "phone":
            return ~Q(phone="")
        case "days":
            return Q(remote_created_at__gte=timezone.now() - timedelta(days=node.days))
    query = Q()
    if node.start is not None:
        query &= Q(remote_created_at__gte=_midnight(node.start))
    if node.end is not None:
        query &= Q(remote_created_at__lt=_midnight(node.end + timedelta(days=1)))
    return query


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class Unresolvable(Exception):
    """A nested rule names a saved audience that is gone, leads back to itself, or goes deeper
    than `MAX_AUDIENCE_DEPTH`: the whole rule then matches nobody. Saving such rules is refused
    (`audience_rules_problem`), but two people saving at once, or a deletion by hand, can still
    make one; it must never match more than it would have."""


MAX_AUDIENCE_DEPTH = 10  # audiences naming audiences naming audiences…
MAX_AUDIENCES_NAMED = 50  # different saved audiences one rule reads, through all of them


@dataclass
class _Refs:
    """The saved audiences one reading of a rule goes through: each is read from the database
    once, and its members (or its WHERE clause) worked out once however often it is named."""

    rules: dict[int, SegmentRules | None] = field(default_factory=dict)
    members: dict[int, BitMap] = field(default_factory=dict)
    queries: dict[tuple[int, bool], Q] = field(default_factory=dict)
    path: list[int] = field(default_factory=list)

    @contextmanager
    def inside(self, audience_id: int) -> Iterator[SegmentRules]:
        if audience_id in self.path or len(self.path) >= MAX_AUDIENCE_DEPTH:
            raise Unresolvable
        if audience_id not in self.rules:
            if len(self.rules) >= MAX_AUDIENCES_NAMED:
                raise Unresolvable
            stored = Audience.objects.filter(pk=audience_id).values_list("rules", flat=True)
            stored = stored.first()
            self.rules[audience_id] = None if stored is None else SegmentRules.from_json(stored)
        rules = self.rules[audience_id]
        if rules is None:
            raise Unresolvable
        self.path.append(audience_id)
        try:
            yield rules
        finally:
            self.path.pop()


def segment_rules_whole(rules: SegmentRules) -> bool:
    """Whether every saved audience the rules reach exists, none leads back to itself, and the
    chain stays within MAX_AUDIENCE_DEPTH and MAX_AUDIENCES_NAMED: if not, the rules match
    nobody (see `Unresolvable`). One query per audience reached."""
    refs, done = _Refs(), set()

    def visit(one: SegmentRules) -> None:
        for pk in nested.audience_ids(one.nested_rule) - done:
            with refs.inside(pk) as named:
                visit(named)
            done.add(pk)

    try:
        visit(rules)
    except Unresolvable:
        return False
    return True


def _label_ids(rules: SegmentRules, label_ids: dict[str, int] | None) -> dict[str, int]:
    if label_ids is not None:
        return label_ids
    return dict(Label.objects.filter(key__in=rules.keys).values_list("key", "pk"))


def contact_list_for_segment(
    *, rules: SegmentRules, label_ids: dict[str, int] | None = None, probe: bool = False
) -> QuerySet[Contact]:
    ids = _label_ids(rules, label_ids)
    return Contact.objects.filter(segment_filter(rules, label_ids=ids, probe=probe)).order_by(
        *ORDER
    )


COUNT_CACHE_SECONDS = 3600
# A migration may drop the triggers (SQLite drops a table's triggers when it rebuilds the table;
# anyone may drop them by hand): without all of them, nothing is cached.
VERSION_SQL = {
    "sqlite": (
        "SELECT value FROM contacts_segment_version WHERE id = 1 AND (SELECT COUNT(*) "
        "FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'contacts_segment_version%') = 6"
    ),
    "postgresql": (
        "SELECT value FROM contacts_segment_version WHERE id = 1 AND (SELECT COUNT(*) "
        "FROM pg_trigger WHERE tgname = 'contacts_segment_version_bump' AND tgenabled <> 'D') = 2"
    ),
}


def segment_version() -> int | None:
    """The current segment version (see migration 0003), or None when it cannot be trusted."""
    with connection.cursor() as cursor:
        cursor.execute(VERSION_SQL[connection.vendor])
        row = cursor.fetchone()
    return row[0] if row else None


def _count_cache_key(rules: SegmentRules, ids: dict[str, int], version: int) -> str:
    shape = [
        sorted(ids[k] for k in rules.all_of if k in ids),
        # An unknown key in ALL of empties the audience: keep that apart from "no ALL of".
        any(k not in ids for k in rules.all_of),
        sorted(ids[k] for k in rules.any_of if k in ids),
        bool(rules.any_of),
        sorted(ids[k] for k in rules.none_of if k in ids),
        rules.unlabeled,
        rules.search,
        # The nested rule with its labels' ids (a key restored under a new id is a new count).
        _tree_shape(rules.nested_rule, ids),
    ]
    digest = hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:32]
    return f"contacts:segment-count:{connection.alias}:{version}:{digest}"


def _tree_shape(tree: nested.Group | None, ids: dict[str, int]) -> str:
    if tree is None:
        return ""
    return nested.renamed(tree, {k: f"{k}={ids.get(k)}" for k in nested.label_keys(tree)}).text()


def _cacheable(rules: SegmentRules) -> bool:
    """Whether a count may be kept under the segment version: not when the nested rule reads
    the clock ("the last 30 days"), a created date, or a saved audience (whose rules the
    version does not follow)."""
    tree = rules.nested_rule
    if tree is None:
        return True
    # ("dates" too: SQLite's version trigger does not follow a changed created date.)
    uncached = ("days", "dates", "audience")
    return not any(getattr(n, "kind", "") in uncached for n in nested.walk(tree))


def contact_count_for_segment(
    *, rules: SegmentRules, label_ids: dict[str, int] | None = None, cached: bool = True
) -> int:
    """How many contacts match, from the cache when nothing was written since it was counted.

    `cached=False` always counts (the benchmark's cold figure)."""
    ids = _label_ids(rules, label_ids)
    members = segment_members(rules, ids)
    if members is not None:
        return len(members)
    version = segment_version() if cached and _cacheable(rules) else None
    if version is None:
        return _count(rules, ids)
    key = _count_cache_key(rules, ids, version)
    count = cache.get(key)
    if count is None:
        count = _count(rules, ids)
        cache.set(key, count, COUNT_CACHE_SECONDS)
    return count


def contact_counts_for_segments(rules: dict[int, SegmentRules]) -> dict[int, int]:
    """`contact_count_for_segment` for many audiences at once (a page of saved audiences): one
    read of the label ids and one of the index; without the index, one of the version and one
    of the cache, then one query counting every miss."""
    keys = {key for one in rules.values() for key in one.keys}
    ids = dict(Label.objects.filter(key__in=keys).values_list("key", "pk")) if keys else {}
    index = label_index()
    if index is not None:
        return {pk: len(segment_members(one, ids, index)) for pk, one in rules.items()}
    version = segment_version()
    if version is None:
        return _counts(rules, ids)
    cache_keys = {
        pk: _count_cache_key(one, ids, version) for pk, one in rules.items() if _cacheable(one)
    }
    found = cache.get_many(list(cache_keys.values()))
    missed = {
        pk: one
        for pk, one in rules.items()
        if pk not in cache_keys or found.get(cache_keys[pk]) is None
    }
    counted = _counts(missed, ids)
    if counted:
        cache.set_many(
            {cache_keys[pk]: n for pk, n in counted.items() if pk in cache_keys},
            COUNT_CACHE_SECONDS,
        )
    return {pk: counted[pk] if pk in counted else found[cache_keys[pk]] for pk in rules}


def segment_members(
    rules: SegmentRules,
    ids: dict[str, int],
    index: LabelIndex | None = None,
    refs: _Refs | None = None,
) -> BitMap | None:
    """The ids of the contacts the rules match, from the label index: ALL of an intersection,
    ANY of a union, NONE of a difference, the search intersected with the result. None where
    the index may not answer (inside a transaction, its triggers missing): ask the database."""
    index = index or label_index()
    if index is None:
        return None
    if any(k not in ids for k in rules.all_of) or (
        rules.any_of and not any(k in ids for k in rules.any_of)
    ):
        return BitMap()
    groups = [index.label(ids[key]) for key in rules.all_of]
    if rules.any_of:
        groups.append(BitMap.union(*(index.label(ids[k]) for k in rules.any_of if k in ids)))
    result = BitMap.intersection(*groups) if groups else BitMap(index.everyone)
    none = [index.label(ids[k]) for k in rules.none_of if k in ids]
    if none:
        result -= BitMap.union(*none)
    if rules.unlabeled:
        result -= index.labelled()
    # Evaluated even when nothing is left: a gone audience it names empties the whole rule, on
    # this path as on the database's.
    if (tree := rules.nested_rule) is not None:
        try:
            result &= _tree_members(tree, ids, index, refs or _Refs())
        except Unresolvable:
            if refs is not None:
                raise  # up to the rule being read, which then matches nobody
            return BitMap()
    if rules.search and result:
        result &= _search_members(rules.search, within=result)
    return result


def _tree_members(
    tree: nested.Group, ids: dict[str, int], index: LabelIndex, refs: _Refs
) -> BitMap:
    def condition(node: nested.Condition) -> BitMap:
        if node.kind != "audience":
            return BitMap(Contact.objects.filter(_field_q(node)).values_list("pk", flat=True))
        if node.audience not in refs.members:
            with refs.inside(node.audience) as rules:
                sub_ids = _label_ids(rules, None)
                found = segment_members(rules, sub_ids, index, refs)
                refs.members[node.audience] = BitMap() if found is None else found
        return refs.members[node.audience]

    return nested.evaluate(
        tree,
        label=lambda key: index.label(ids[key]) if key in ids else BitMap(),
        condition=condition,
        everyone=lambda: index.everyone,
        nobody=BitMap,
        both=operator.and_,
        either=operator.or_,
        without=operator.sub,
    )


# Up to this many matching contacts are read by their ids; more, by walking an order's index.
BY_IDS = 2000


def _read_by_ids(members: int, total: int) -> bool:
    """Whether a page of `members` out of `total` contacts is read by id rather than by walking
    an order's index: by id reads every member once; the walk reads about 52 / density rows
    for a page of 25 (twice that, to be sure). They cost the same near 2 x sqrt(52 x total)
    members (15,000 at a million, 4,500 at 100k), by id being the dearer per row."""
    return members <= max(BY_IDS, int(2 * (52 * total) ** 0.5)) if BY_IDS else False


def _search_members(text: str, *, within: BitMap) -> BitMap:
    """The contacts whose name, email or phone contain every word: the few ones by id; the
    others through the trigram search index (migration wixcache 0005) for words of three
    characters or more, and by reading the table for shorter ones (a trigram index cannot serve
    them, and SQLite's FTS5 trigram LIKE must not be given them: 3.40 crashes on it)."""
    words = text.lower().split()
    few = BY_IDS and len(within) <= max(BY_IDS, BY_IDS_SEARCH * 4)
    if few or any(c in word for word in words for c in "%_\\"):
        contacts = Contact.objects.filter(_search_q(text))
        if few:
            contacts = contacts.filter(_pk_in(within))
        return BitMap(contacts.values_list("pk", flat=True))
    long_words = [word for word in words if len(word) >= 3]
    short_words = [word for word in words if len(word) < 3]
    found = None
    if long_words:
        likes = " AND ".join([SEARCH_LIKE[connection.vendor]] * len(long_words))
        with connection.cursor() as cursor:
            cursor.execute(SEARCH_SQL[connection.vendor] + likes, [f"%{w}%" for w in long_words])
            found = BitMap(row[0] for row in cursor.fetchall())
    if short_words and (found is None or found):
        contacts = Contact.objects.filter(_search_q(" ".join(short_words)))
        if found is not None and len(found) <= BY_IDS_SEARCH:
            contacts = contacts.filter(_pk_in(found))
        short = BitMap(contacts.values_list("pk", flat=True))
        found = short if found is None else found & short
    return found


# Short words are checked on at most this many contacts the long words found, by id.
BY_IDS_SEARCH = 5000


SEARCHED_TEXT = "lower(first_name || ' ' || last_name || ' ' || email || ' ' || phone)"
SEARCH_SQL = {
    "sqlite": "SELECT rowid FROM wixcache_contact_search WHERE ",
    "postgresql": "SELECT id FROM contacts_contact WHERE ",
}
SEARCH_LIKE = {"sqlite": "text LIKE %s", "postgresql": SEARCHED_TEXT + " LIKE %s"}


def _count(rules: SegmentRules, ids: dict[str, int]) -> int:
    counted = _counted(rules, ids)
    return 0 if counted is None else counted.count()


def _counts(rules: dict[int, SegmentRules], ids: dict[str, int]) -> dict[int, int]:
    """Each audience's count, all in one query: one scalar subquery per audience (a page of
    saved audiences would otherwise cost one query for each)."""
    counts = dict.fromkeys(rules, 0)
    queries = {pk: query for pk, one in rules.items() if (query := _counted(one, ids)) is not None}
    if not queries:
        return counts
    parts, params = [], []
    for pk, query in list(queries.items()):
        try:
            sql, query_params = (
                query.order_by()
                .values(n=Func(Value(1), function="COUNT", output_field=IntegerField()))
                .query.sql_with_params()
            )
        except EmptyResultSet:  # rules no contact can match (a label gone from ANY of)
            del queries[pk]
            continue
        parts.append(f"({sql})")
        params += query_params
    if not queries:
        return counts
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        row = cursor.fetchone()
    counts.update(zip(queries, row, strict=True))
    return counts


def _counted(rules: SegmentRules, ids: dict[str, int]) -> QuerySet | None:
    """The rows to count for the rules, or None when nobody can match. With an ALL-of label
    they are that label's memberships, the rest probed: far fewer rows than the contact
    table."""
    if not rules.all_of or rules.nested_rule is not None:
        return Contact.objects.filter(segment_filter(rules, label_ids=ids))
    if any(k not in ids for k in rules.all_of) or rules.unlabeled:
        return None
    if rules.any_of and not any(k in ids for k in rules.any_of):
        return None
    driver, *others = [ids[k] for k in rules.all_of]
    memberships = ContactLabel.objects.filter(label_id=driver)
    for label_id in others:
        memberships = memberships.filter(_has([label_id], outer="contact_id"))
    if rules.any_of:
        memberships = memberships.filter(
            _has([ids[k] for k in rules.any_of if k in ids], outer="contact_id")
        )
    none_ids = [ids[k] for k in rules.none_of if k in ids]
    if none_ids:
        memberships = memberships.exclude(_has(none_ids, outer="contact_id"))
    if rules.search:
        memberships = memberships.filter(_search_q(rules.search, prefix="contact__"))
    return memberships


def _contact_total_estimate() -> int:
    # The highest primary key: one index probe, and close enough to the table size.
    return Contact.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def contact_page_for_segment(
    *,
    rules: SegmentRules,
    label_ids: dict[str, int] | None = None,
    per_page: int = 25,
    after: Cursor | None = None,
    before: Cursor | None = None,
    count: int | None = None,
    sort: str = "created",
) -> ContactPage:
    """One page of the audience in `sort` order, after or before a cursor.

    `sort` is a key of `SORT_KEYS`, with a leading "-" for descending. Each order walks its own
    (key, wix_id) index, forwards or backwards, so a page costs the same in either direction
    and at any depth. Given the audience's `count`, a narrow audience (under 2% of contacts) is
    read through its label sets; a broad one by walking the index and probing each contact's
    labels.
    """
    ids = _label_ids(rules, label_ids)
    index = label_index()
    members = segment_members(rules, ids, index) if index is not None else None
    return _page(rules, ids, index, members, per_page, after, before, count, sort)


def contact_count_and_page_for_segment(
    *,
    rules: SegmentRules,
    label_ids: dict[str, int] | None = None,
    per_page: int = 25,
    after: Cursor | None = None,
    before: Cursor | None = None,
    count: int | None = None,
    sort: str = "created",
) -> tuple[int, ContactPage]:
    """The audience's count (unless given) and one page of it, as the contacts page shows them:
    `contact_count_for_segment` and `contact_page_for_segment` in one, the label index read and
    the rules applied to it once for both."""
    ids = _label_ids(rules, label_ids)
    index = label_index()
    members = segment_members(rules, ids, index) if index is not None else None
    if count is None:
        if members is not None:
            count = len(members)
        else:
            count = contact_count_for_segment(rules=rules, label_ids=ids)
    return count, _page(rules, ids, index, members, per_page, after, before, count, sort)


def _page(
    rules: SegmentRules,
    ids: dict[str, int],
    index: LabelIndex | None,
    members: BitMap | None,
    per_page: int,
    after: Cursor | None,
    before: Cursor | None,
    count: int | None,
    sort: str,
) -> ContactPage:
    descending, column = sort.startswith("-"), sort.removeprefix("-")
    key = SORT_KEYS[column]
    if members is not None:
        return _page_from_index(
            members,
            total=len(index.everyone),
            key=key,
            column=column,
            descending=descending,
            per_page=per_page,
            after=after,
            before=before,
        )
    probe = True
    if count is not None and (rules.all_of or rules.any_of):
        probe = count * 50 >= _contact_total_estimate()
    contacts = contact_list_for_segment(rules=rules, label_ids=ids, probe=probe).annotate(
        sort_key=key
    )
    forwards = (key.asc(), F("wix_id").asc())
    backwards = (key.desc(), F("wix_id").desc())
    if descending:
        forwards, backwards = backwards, forwards
    if before is not None:
        contacts = contacts.filter(_beyond(before, later=descending)).order_by(*backwards)
        rows = list(contacts[: per_page + 1])
        has_previous = len(rows) > per_page
        return ContactPage(rows[:per_page][::-1], True, has_previous, column)
    if after is not None:
        contacts = contacts.filter(_beyond(after, later=not descending))
    rows = list(contacts.order_by(*forwards)[: per_page + 1])
    return ContactPage(rows[:per_page], len(rows) > per_page, after is not None, column)


def _page_from_index(
    members: BitMap,
    *,
    total: int,
    key,
    column: str,
    descending: bool,
    per_page: int,
    after: Cursor | None,
    before: Cursor | None,
) -> ContactPage:
    """A page of `members` in the sort's order. A few members are read by id; more by walking
    the sort's index from the cursor in growing chunks, keeping the members, until the page is
    full (a broad audience fills it in the first chunk)."""
    backwards = before is not None
    # Walking back from `before` reads the order reversed, then turns the page round.
    reverse = descending != backwards
    order = (key.desc(), F("wix_id").desc()) if reverse else (key.asc(), F("wix_id").asc())
    contacts = Contact.objects.annotate(sort_key=key)
    edge = before if backwards else after
    if edge is not None:
        contacts = contacts.filter(_beyond(edge, later=not reverse))
    want = per_page + 1
    if _read_by_ids(len(members), total):
        rows = list(contacts.filter(_pk_in(members)).order_by(*order)[:want])
    else:
        # Enough rows that, at the members' density, the first chunk likely fills the page.
        density = len(members) / max(total, 1)
        size = max(200, min(20_000, int(want / max(density, 1e-6) * 2)))
        found: list[int] = []
        walk, last = contacts.order_by(*order).values_list("pk", "sort_key", "wix_id"), None
        while len(found) < want:
            chunk_query = walk
            if last is not None:
                chunk_query = walk.filter(_beyond(last, later=not reverse))
            chunk = list(chunk_query[:size])
            found += [pk for pk, _key, _id in chunk if pk in members]
            if len(chunk) < size:
                break
            last = Cursor(chunk[-1][1], chunk[-1][2], column)
            size = min(size * 4, 100_000)
        by_pk = Contact.objects.annotate(sort_key=key).in_bulk(found[:want])
        rows = [by_pk[pk] for pk in found[:want] if pk in by_pk]
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backwards:
        return ContactPage(rows[::-1], True, more, column)
    return ContactPage(rows, more, after is not None, column)


def _pk_in(pks: BitMap) -> Q:
    """The contacts with these ids, as one parameter: PostgreSQL an array, SQLite a JSON list.
    Thousands of `IN` parameters cost PostgreSQL more to parse and plan than to run, and cost
    Django about 1.3 ms per thousand to prepare (a third of a 25-row page from 3,600 members)."""
    if connection.vendor == "postgresql":
        return Q(pk__in=RawSQL("SELECT unnest(%s::bigint[])", (list(pks),)))
    return Q(pk__in=RawSQL("SELECT value FROM json_each(%s)", (json.dumps(list(pks)),)))


def _beyond(cursor: Cursor, *, later: bool) -> Q:
    """Rows past the cursor in (sort_key, wix_id) order: after it (`later`) or before it.

    The leading >= (or <=) on the key lets its index seek to the cursor on both databases."""
    if later:
        return Q(sort_key__gte=cursor.key) & (
            Q(sort_key__gt=cursor.key) | Q(wix_id__gt=cursor.wix_id)
        )
    return Q(sort_key__lte=cursor.key) & (Q(sort_key__lt=cursor.key) | Q(wix_id__lt=cursor.wix_id))


def label_map_for_contacts(contact_ids: Iterable[int]) -> dict[int, list[Label]]:
    """Each contact's labels, by name, each with its note (`note_description`, `note_colour`, as
    `with_notes` gives them), in one query."""
    chips: dict[int, list[Label]] = defaultdict(list)
    notes = LabelNote.objects.filter(key=OuterRef("label__key"))
    rows = (
        ContactLabel.objects.filter(contact_id__in=list(contact_ids))
        .select_related("label")
        .annotate(
            note_description=Subquery(notes.values("description")[:1]),
            note_colour=Subquery(notes.values("colour")[:1]),
        )
        .order_by("label__display_name", "label__key")
    )
    for row in rows:
        row.label.note_description, row.label.note_colour = row.note_description, row.note_colour
        chips[row.contact_id].append(row.label)
    return chips


def label_contact_counts(label_ids: Iterable[int]) -> dict[int, int]:
    """How many contacts have each label, in one query."""
    rows = (
        ContactLabel.objects.filter(label_id__in=list(label_ids))
        .values("label_id")
        .annotate(n=Count("contact_id"))
        .values_list("label_id", "n")
    )
    return dict(rows)


Chip = tuple[str, bool, str, str, str]  # name, is system, key, note colour, note description


def label_chips_for_contacts(*, contact_ids: Iterable[int]) -> dict[int, list[Chip]]:
    """Each contact's labels as (name, is system, key, colour, description) tuples, by name, in
    one query (the label's local note joined in).

    Plain tuples rather than `Label` rows: a page of 200 contacts holds some 700 chips, and
    building a model instance for each was the page's largest Python cost."""
    chips: dict[int, list[Chip]] = defaultdict(list)
    notes = LabelNote.objects.filter(key=OuterRef("label__key"))
    rows = (
        ContactLabel.objects.filter(contact_id__in=list(contact_ids))
        .annotate(
            colour=Subquery(notes.values("colour")[:1]),
            description=Subquery(notes.values("description")[:1]),
        )
        .order_by("label__display_name", "label__key")
        .values_list(
            "contact_id",
            "label__display_name",
            "label__label_type",
            "label__key",
            "colour",
            "description",
        )
    )
    for contact_id, name, label_type, key, colour, description in rows:
        chips[contact_id].append(
            (name, label_type == Label.Type.SYSTEM, key, colour or "", description or "")
        )
    return chips


def contact_wix_ids_for_change(
    *,
    rules: SegmentRules,
    label_ids: dict[str, int] | None = None,
    add_ids: list[int] = (),
    remove_ids: list[int] = (),
    only_wix_ids: Iterable[str] | None = None,
) -> list[str]:
    """Wix ids of the audience's contacts that a change would actually change: those lacking a
    label to add or holding a label to remove."""
    ids = _label_ids(rules, label_ids)
    index = label_index()
    members = segment_members(rules, ids, index) if index is not None else None
    if members is not None:
        change = BitMap()
        for label_id in add_ids:
            change |= members - index.label(label_id)
        if remove_ids:
            change |= members & BitMap.union(*(index.label(i) for i in remove_ids))
        only = set(only_wix_ids) if only_wix_ids is not None else None
        rows = [
            row
            for chunk in _by_ids(change, ("remote_created_at", "wix_id"))
            for row in chunk
            if only is None or row[1] in only
        ]
        return [wix_id for _created, wix_id in sorted(rows)]
    contacts = contact_list_for_segment(rules=rules, label_ids=ids)
    if only_wix_ids is not None:
        contacts = contacts.filter(wix_id__in=list(only_wix_ids))
    change = Q(pk__in=[])
    for label_id in add_ids:
        change |= ~Q(pk__in=_members([label_id]))
    if remove_ids:
        change |= Q(pk__in=_members(list(remove_ids)))
    return list(contacts.filter(change).values_list("wix_id", flat=True))


def _by_ids(pks: BitMap, fields: tuple[str, ...], size: int = 5000) -> Iterator[list[tuple]]:
    """`fields` of these contacts, read `size` ids at a time (a database takes only so many
    parameters in one statement)."""
    pks = list(pks)
    for start in range(0, len(pks), size):
        chunk = pks[start : start + size]
        yield list(Contact.objects.filter(pk__in=chunk).values_list(*fields))


def contact_rows_for_export(
    *, rules: SegmentRules, label_ids: dict[str, int] | None = None, chunk_size: int = 2000
) -> Iterator[tuple[Contact, list[str]]]:
    """Every contact of the audience with its label names, read chunk by chunk.

    Each chunk is a short keyset query walking the created-date index, not one long cursor: a
    server-side cursor outside a transaction is declared WITH HOLD, and PostgreSQL materialises
    the whole result before the first row (two seconds at a million contacts). The first chunk
    is small, so the download starts at once."""
    ids = _label_ids(rules, label_ids)
    names = dict(Label.objects.values_list("pk", "display_name"))
    index = label_index()
    members = segment_members(rules, ids, index) if index is not None else None
    if members is not None and BY_IDS and len(members) <= EXPORT_BY_IDS:
        # The members in created order (read by id), then their rows chunk by chunk.
        order = sorted(row for chunk in _by_ids(members, (*ORDER, "pk")) for row in chunk)
        pks = [pk for _created, _wix_id, pk in order]
        start, size = 0, min(chunk_size, 200)  # a small first chunk: the download starts at once
        while start < len(pks):
            chunk_pks = pks[start : start + size]
            by_pk = Contact.objects.only(*EXPORTED).in_bulk(chunk_pks)
            yield from _with_label_names([by_pk[pk] for pk in chunk_pks if pk in by_pk], names)
            start, size = start + size, chunk_size
        return
    if members is not None:
        # Many members: every contact in created order, keeping the members. Sorting them all
        # first held a million rows in memory and sent nothing for seconds.
        contacts = Contact.objects.order_by(*ORDER).only(*EXPORTED)
    else:
        contacts = contact_list_for_segment(rules=rules, label_ids=ids, probe=True)
        contacts = contacts.only(*EXPORTED)
    after, size = None, min(chunk_size, 200)
    while True:
        chunk_query = contacts
        if after is not None:
            chunk_query = contacts.filter(
                Q(remote_created_at__gte=after.key),
                Q(remote_created_at__gt=after.key) | Q(wix_id__gt=after.wix_id),
            )
        chunk = list(chunk_query[:size])
        if not chunk:
            return
        kept = chunk if members is None else [c for c in chunk if c.pk in members]
        if kept:
            yield from _with_label_names(kept, names)
        if len(chunk) < size:
            return
        after, size = Cursor.of(chunk[-1]), chunk_size


# Up to this many members an export reads them by id and sorts them (a few MB); more, it walks
# the created-date order, which reads every contact but holds one chunk at a time. (With
# `BY_IDS` 0, as tests set it, nothing is read by id.)
EXPORT_BY_IDS = 50_000
EXPORTED = ("first_name", "last_name", "email", "phone", "remote_created_at", "wix_id")


def _with_label_names(
    contacts: list[Contact], names: dict[int, str]
) -> Iterator[tuple[Contact, list[str]]]:
    labels: dict[int, list[str]] = defaultdict(list)
    for contact_id, label_id in ContactLabel.objects.filter(
        contact_id__in=[c.pk for c in contacts]
    ).values_list("contact_id", "label_id"):
        labels[contact_id].append(names.get(label_id, ""))
    for contact in contacts:
        yield contact, sorted(labels[contact.pk])


def audience_label_preview(*, rules: SegmentRules, label: Label | None) -> tuple[Label | None, int]:
    """What "Save as Wix label" would do: (the existing label of that name, or None; how many
    contacts would gain it)."""
    if label is None:
        return None, contact_count_for_segment(rules=rules)
    return label, len(contact_wix_ids_for_change(rules=rules, add_ids=[label.pk]))


def label_names_for_keys(keys: Iterable[str]) -> dict[str, str]:
    """Label names by key, for rules shown in words; a deleted label by the name it had, marked
    "(deleted)". At most two queries."""
    return label_names_and_present(keys)[0]


def label_names_and_present(keys: Iterable[str]) -> tuple[dict[str, str], set[str]]:
    """As `label_names_for_keys`, and which of the keys the cache holds as labels now."""
    keys = set(keys)
    if not keys:
        return {}, set()
    names = dict(Label.objects.filter(key__in=keys).values_list("key", "display_name"))
    present = set(names)
    if gone := keys - present:
        names.update({key: f"{name} (deleted)" for key, name in label_deleted_names(gone).items()})
    return names, present


def audience_names(ids: Iterable[int]) -> dict[int, str]:
    """Saved audiences' names by id, for nested rules that name them. One query, or none."""
    ids = set(ids)
    return dict(Audience.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}


def audience_rules_problem(audience_id: int | None, rules: SegmentRules) -> str:
    """Why rules of saved audience `audience_id` (None: a new one) cannot be saved, or "": they
    name that audience itself (directly or through others), a saved audience that is gone, a
    chain deeper than MAX_AUDIENCE_DEPTH, or more than MAX_AUDIENCES_NAMED audiences. One query
    per step of the longest chain."""
    came_from: dict[int, int | None] = dict.fromkeys(nested.audience_ids(rules.tree))
    depth = dict.fromkeys(came_from, 1)
    step, names = set(came_from), {}
    while step:
        if audience_id in step:
            chain, at = [], came_from[audience_id]
            while at is not None:
                chain.append(names.get(at, f"#{at}"))
                at = came_from[at]
            through = "".join(f" through “{name}”" for name in chain[::-1])
            name = Audience.objects.filter(pk=audience_id).values_list("name", flat=True).first()
            return (
                f"An audience cannot include itself: these rules name “{name}”{through}. Take "
                "that condition out, then save."
            )
        rows = {
            pk: (name, stored)
            for pk, name, stored in Audience.objects.filter(pk__in=step).values_list(
                "pk", "name", "rules"
            )
        }
        if gone := sorted(step - rows.keys()):
            return (
                f"These rules name saved audience #{gone[0]}, which no longer exists. Take that "
                "condition out, then save."
            )
        if max(depth[pk] for pk in step) > MAX_AUDIENCE_DEPTH:
            return (
                f"Saved audiences can name each other {MAX_AUDIENCE_DEPTH} deep at most; these "
                "rules go deeper. Name an audience nearer the end of the chain."
            )
        following = set()
        for pk, (name, stored) in rows.items():
            names[pk] = name
            for named in nested.audience_ids(SegmentRules.from_json(stored).tree):
                if named not in came_from:
                    came_from[named], depth[named] = pk, depth[pk] + 1
                    following.add(named)
        if len(came_from) > MAX_AUDIENCES_NAMED:
            return (
                f"These rules reach more than {MAX_AUDIENCES_NAMED} saved audiences through each "
                "other; name fewer."
            )
        step = following
    return ""
