"""The only code that writes Wix's data into the cache: one label writer, one contact writer.

The sync, the webhooks and the write path (a person's change, once Wix accepted it) all store
what Wix answered through these functions, as `labelsite.wix` records. Callers hold the
transaction; every function here is safe to repeat with the same records.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from labelsite.wix.records import WixContact, WixLabel
from wixcache.models import Contact, ContactLabel, Label, LabelGone

LABEL_FIELDS = (
    "display_name",
    "label_type",
    "namespace",
    "namespace_display_name",
    "remote_created_at",
    "remote_updated_at",
)
DELETE_BATCH = 10_000  # under SQLite's limit of bound parameters per statement


# --- Labels -----------------------------------------------------------------------------------


def _label_values(record: WixLabel) -> dict:
    return {
        "display_name": record.display_name,
        "label_type": record.type,
        "namespace": record.namespace or "",
        "namespace_display_name": record.namespace_display_name or "",
        "remote_created_at": record.created_date,
        "remote_updated_at": record.updated_date,
    }


@dataclass(frozen=True)
class LabelStored:
    """What `label_store` did: `previous_name` is set when an existing label changed."""

    label: Label
    created: bool = False
    changed: bool = False
    previous_name: str | None = None
    stale: bool = False  # Wix's record was older than the cache's: nothing was written
    gone: bool = False  # the cache let go of the label after the answer was asked for: not written


def label_store(record: WixLabel, *, gone_after: int | None = None) -> LabelStored:
    """Write one label as Wix answered it. The row is locked; an answer older than what the
    cache holds (events can arrive late) changes nothing. With `gone_after` (a
    `labels_gone_mark` taken before Wix was asked), a label the cache let go of since is not
    brought back: Wix answered before it was deleted."""
    values = _label_values(record)
    with transaction.atomic(savepoint=False):
        if gone_after is not None:
            memberships_write_lock()  # after any deletion still writing (the one lock order)
        current = Label.objects.select_for_update().filter(key=record.key).first()
        if (
            current is None
            and gone_after is not None
            and LabelGone.objects.filter(key=record.key, pk__gt=gone_after).exists()
        ):
            return LabelStored(Label(key=record.key, **values), gone=True)
        if current is None:
            try:
                with transaction.atomic():
                    return LabelStored(Label.objects.create(key=record.key, **values), created=True)
            except IntegrityError:  # made here at the same moment (a sync, a webhook, a person)
                current = Label.objects.select_for_update().get(key=record.key)
        if (
            current.remote_updated_at
            and record.updated_date
            and record.updated_date < current.remote_updated_at
        ):
            return LabelStored(current, stale=True)
        previous_name = current.display_name
        changed = any(
            getattr(current, name) != value
            for name, value in values.items()
            if name != "remote_updated_at"
        )
        for name, value in values.items():
            if value is not None or name != "remote_updated_at":
                setattr(current, name, value)
        current.save()
        return LabelStored(current, changed=changed, previous_name=previous_name)


@dataclass
class LabelsReplaced:
    created: list[Label] = field(default_factory=list)
    updated: list[tuple[Label, str]] = field(default_factory=list)  # (label, previous name)
    deleted: list[Label] = field(default_factory=list)
    ids_by_key: dict[str, int] = field(default_factory=dict)


def labels_gone_mark() -> int:
    """Where the record of labels the cache let go of ends now. A pull takes it before it walks
    Wix's labels, and hands it to `labels_replace`."""
    return LabelGone.objects.aggregate(last=Max("pk"))["last"] or 0


def labels_replace(
    records: Iterable[WixLabel], *, gone_after: int | None = None, gone: Iterable[str] | None = None
) -> LabelsReplaced:
    """Make the Label table equal to Wix's whole list of labels (a few thousand at most).

    `records` is a walk of Wix's labels, which takes a while; the cache moves meanwhile. With
    `gone_after` (a `labels_gone_mark` taken before the walk), a label the cache let go of since
    is not brought back: the walk listed it before it went. With `gone` (the keys Wix confirmed
    deleted), only those are deleted here; a label cached after the walk is kept.
    """
    remote = {record.key: record for record in records}
    result = LabelsReplaced()
    touched: list[Label] = []  # only Wix's updated date moved: written, not reported
    with transaction.atomic(savepoint=False):
        memberships_write_lock()  # it may delete labels (and memberships): the one lock order
        local = {label.key: label for label in Label.objects.all()}
        if gone_after is not None:
            went = LabelGone.objects.filter(pk__gt=gone_after, key__in=remote.keys() - local.keys())
            for key in went.values_list("key", flat=True):
                del remote[key]
        for key, record in remote.items():
            values = _label_values(record)
            current = local.get(key)
            if current is None:
                result.created.append(Label(key=key, **values))
                continue
            changed = [name for name, value in values.items() if getattr(current, name) != value]
            if changed:
                previous_name = current.display_name
                for name in changed:
                    setattr(current, name, values[name])
                if changed != ["remote_updated_at"]:  # else nothing a person would call a change
                    result.updated.append((current, previous_name))
                else:
                    touched.append(current)
        confirmed = local.keys() if gone is None else set(gone)
        result.deleted = [
            label for key, label in local.items() if key not in remote and key in confirmed
        ]

        if result.created:
            # A person may have created one of them here meanwhile (write-through): keep theirs.
            Label.objects.bulk_create(result.created, batch_size=500, ignore_conflicts=True)
        if result.updated or touched:
            Label.objects.bulk_update(
                [label for label, _ in result.updated] + touched, [*LABEL_FIELDS, "synced_at"], 500
            )
        if result.deleted:
            labels_delete([label.pk for label in result.deleted])
        result.ids_by_key = dict(Label.objects.values_list("key", "pk"))
    return result


def memberships_write_lock() -> None:
    """Every transaction that writes memberships takes this first, then label rows, then
    membership rows: one order, so that two writers never wait for each other in a circle.

    On PostgreSQL it is the segment-version row (contacts migration 0003), which every such
    transaction updates anyway through the triggers, only later: a sync page that drops a
    membership a bulk job is dropping too would otherwise hold the version row while waiting
    for the job's membership row, and the job the other way round. SQLite runs one writer at a
    time and needs nothing.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM contacts_segment_version WHERE id = 1 FOR UPDATE")


LABEL_GONE_KEPT = timedelta(days=1)


# Told, inside the writer's transaction, whenever contacts, labels or memberships were written
# here: the contacts app keeps its living labels by it (`contacts.living`; this app may not
# import that one).
CHANGE_LISTENERS: list[Callable[[], None]] = []


def _changed() -> None:
    for listener in CHANGE_LISTENERS:
        listener()


def labels_delete(pks: Sequence[int]) -> None:
    """Delete labels and their memberships. The rows are locked first (label rows before
    membership writes, as everywhere), so that no sync page or job adds a membership meanwhile.
    Their keys are written down as gone (see `labels_replace`)."""
    with transaction.atomic(savepoint=False):
        memberships_write_lock()
        keys = list(
            Label.objects.select_for_update()
            .filter(pk__in=pks)
            .order_by("pk")
            .values_list("key", flat=True)
        )
        Label.objects.filter(pk__in=pks).delete()
        LabelGone.objects.filter(gone_at__lt=timezone.now() - LABEL_GONE_KEPT).delete()
        LabelGone.objects.bulk_create([LabelGone(key=key) for key in keys])
        _changed()


def label_ids_locked(keys: Iterable[str]) -> dict[str, int]:
    """key -> pk of the cached labels among `keys`, locked until the transaction ends: a label
    deleted here meanwhile is then either gone (and gets no memberships) or waits for us.
    Takes the memberships write lock first (see `memberships_write_lock`)."""
    memberships_write_lock()
    quote = connection.ops.quote_name
    # The keys travel as one JSON parameter: a sync page names a few hundred labels, and
    # binding each one costs more than the query does.
    keys_sql = {
        "postgresql": "SELECT value FROM json_array_elements_text(%s::json)",
        "sqlite": "SELECT value FROM json_each(%s)",
    }[connection.vendor]
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote('key')}, {quote('id')} FROM {quote(Label._meta.db_table)} "
            f"WHERE {quote('key')} IN ({keys_sql}) ORDER BY {quote('id')}{lock}",
            [json.dumps(sorted(set(keys)))],
        )
        return dict(cursor.fetchall())


# --- Contacts ---------------------------------------------------------------------------------

CONTACT_FIELDS = (
    "revision",
    "first_name",
    "last_name",
    "email",
    "phone",
    "remote_created_at",
    "remote_updated_at",
)
CONTACT_PG_TYPES = ("text", "integer", "text", "text", "text", "text", "timestamptz", "timestamptz")


def _fit(value: str, limit: int, clipped: list[str], what: str) -> str:
    """Wix allows longer text than the cache keeps in a few fields: keep what fits, say so.
    NUL characters, which PostgreSQL cannot store as text and SQLite's JSON functions cut the
    text at, are taken out and said too."""
    if "\x00" in value:
        value = value.replace("\x00", "")
        clipped.append(f"{what} held NUL characters, which the cache cannot keep; taken out")
    if len(value) <= limit:
        return value
    clipped.append(f"{what} longer than {limit} characters; the first {limit} are kept")
    return value[:limit]


FIELD_LIMITS = {
    name: Contact._meta.get_field(name).max_length
    for name in ("first_name", "last_name", "email", "phone")
}


@dataclass
class ContactsStored:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    clipped: dict[str, list[str]] = field(default_factory=dict)  # wix id -> what was cut
    pks: dict[str, int] = field(default_factory=dict)  # wix id -> pk of what was written


def _rows_source(rows: list[tuple], pg_types: tuple[str, ...]) -> tuple[str, list]:
    """SQL that yields `rows` as a relation, and its one parameter: the rows as a JSON document,
    encoded and parsed in C on both sides. Binding thousands of values costs more in Python
    than the statement costs the database (and SQLite would need batches under its limit on
    bound parameters)."""
    # msgspec writes a page's rows about ten times faster than `json.dumps` (datetimes as
    # RFC 3339, which PostgreSQL reads); text, not bytes: SQLite would take bytes as a blob.
    # It writes an offset in whole minutes: Wix's dates, which msgspec decoded, have no other.
    document = msgspec.json.encode(rows).decode()
    if connection.vendor == "postgresql":
        columns = ", ".join(f"(r ->> {n})::{pg_type}" for n, pg_type in enumerate(pg_types))
        return f"SELECT {columns} FROM json_array_elements(%s::json) AS r", [document]
    # SQLite: `WHERE true` keeps an upsert's ON CONFLICT from being read as a join's ON.
    columns = ", ".join(f"json_extract(r.value, '$[{n}]')" for n in range(len(pg_types)))
    return f"SELECT {columns} FROM json_each(%s) AS r WHERE true", [document]


def _existing_contacts(wix_ids: list[str]) -> dict[str, tuple[int, int]]:
    """wix_id -> (pk, revision) of the cached contacts among `wix_ids`."""
    quote = connection.ops.quote_name
    source, params = _rows_source([(wix_id,) for wix_id in wix_ids], ("text",))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote('wix_id')}, {quote('id')}, {quote('revision')} "
            f"FROM {quote(Contact._meta.db_table)} WHERE {quote('wix_id')} IN ({source})",
            params,
        )
        return {wix_id: (pk, revision) for wix_id, pk, revision in cursor.fetchall()}


def _datetime_adapter() -> Callable[[datetime], object]:
    if connection.vendor == "sqlite":
        return _sqlite_datetime
    return lambda value: value  # _rows_source writes RFC 3339


def _sqlite_datetime(value: datetime) -> str:
    """What Django's SQLite backend stores (naive UTC text), without its per-value checks.
    Wix's dates come in UTC: their text is the stored text and its offset."""
    text = str(value)
    if text.endswith("+00:00"):
        return text[:-6]
    return str(value.astimezone(UTC).replace(tzinfo=None))


def _upsert_contacts(rows: list[tuple]) -> dict[str, int]:
    """INSERT .. ON CONFLICT (wix_id) DO UPDATE .. RETURNING, in one statement for a page.
    Django's bulk_create builds a model instance per row, which costs more than the database
    does here, and binds every value as a parameter. A row another writer has meanwhile brought
    to a newer revision is left alone (and not returned)."""
    quote = connection.ops.quote_name
    table = quote(Contact._meta.db_table)
    columns = [Contact._meta.get_field(name).column for name in ("wix_id", *CONTACT_FIELDS)]
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns[1:])
    revision = quote(Contact._meta.get_field("revision").column)
    source, params = _rows_source(rows, CONTACT_PG_TYPES)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(map(quote, columns))}) "
            f"{source} ON CONFLICT ({quote(columns[0])}) DO UPDATE SET {updates} "
            f"WHERE {table}.{revision} <= excluded.{revision} "
            f"RETURNING {quote(Contact._meta.pk.column)}, {quote(columns[0])}",
            params,
        )
        return {wix_id: pk for pk, wix_id in cursor.fetchall()}


def _insert_memberships(pairs: list[tuple[int, int]]) -> None:
    quote = connection.ops.quote_name
    columns = ", ".join(
        quote(ContactLabel._meta.get_field(name).column) for name in ("contact", "label")
    )
    source, params = _rows_source(pairs, ("bigint", "bigint"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(ContactLabel._meta.db_table)} ({columns}) {source}", params
        )


def contacts_store(contacts: Sequence[WixContact], *, again: bool = False) -> ContactsStored:
    """Write contacts as Wix answered them (a sync page, a webhook's contact, a label change's
    answer): insert new ones, update changed ones, and bring label memberships to Wix's set by
    difference. A constant number of statements whatever the number of contacts.

    The contacts' labels are read locked (see `label_ids_locked`); a key the cache does not
    know belongs to a label deleted since, so the contact no longer has it here either.
    A contact whose revision the cache already holds is skipped, unless `again` (it was stored
    before its labels were known here).
    """
    result = ContactsStored()
    if not contacts:
        return result
    incoming = {contact.id: contact for contact in contacts}
    with transaction.atomic(savepoint=False):
        label_ids = label_ids_locked(key for c in incoming.values() for key in c.label_keys)
        existing = _existing_contacts(list(incoming))
        adapt = _datetime_adapter()
        wanted: dict[str, set[int]] = {}
        rows: list[tuple] = []
        changed_pks: list[int] = []
        for wix_id, contact in incoming.items():
            known = existing.get(wix_id)
            if known is not None and (
                known[1] > contact.revision or (known[1] == contact.revision and not again)
            ):
                # Wix bumps the revision on every change: the same revision is the same
                # contact, and an older one (a page read before a webhook) never takes it back.
                result.unchanged += 1
                result.pks[wix_id] = known[0]
                continue
            if known is None:
                result.created += 1
            else:
                result.updated += 1
                changed_pks.append(known[0])
            wanted[wix_id] = {label_ids[k] for k in contact.label_keys if k in label_ids}
            # A key the cache does not know yet (a label made in Wix since the last pull): the
            # contact is stored one revision back, so that seeing this revision again (after
            # the labels are pulled) writes its memberships instead of skipping it.
            complete = len(wanted[wix_id]) == len(set(contact.label_keys))
            cut: list[str] = []
            rows.append(
                (
                    wix_id,
                    contact.revision if complete else max(0, contact.revision - 1),
                    _fit(contact.first_name, FIELD_LIMITS["first_name"], cut, "first name"),
                    _fit(contact.last_name, FIELD_LIMITS["last_name"], cut, "last name"),
                    _fit(contact.email, FIELD_LIMITS["email"], cut, "email"),
                    _fit(contact.phone, FIELD_LIMITS["phone"], cut, "phone"),
                    adapt(contact.created_date),
                    adapt(contact.changed_at),
                )
            )
            if cut:
                result.clipped[wix_id] = cut
        if not rows:
            return result
        pk_by_wix_id = _upsert_contacts(rows)
        result.pks.update(pk_by_wix_id)
        _memberships_set(wanted, pk_by_wix_id, changed_pks)
        _changed()
    return result


def _memberships_set(
    wanted: dict[str, set[int]], pk_by_wix_id: dict[str, int], changed_pks: list[int]
) -> None:
    current: dict[int, dict[int, int]] = {}
    if changed_pks:
        for membership_pk, contact_pk, label_pk in ContactLabel.objects.filter(
            contact_id__in=changed_pks
        ).values_list("pk", "contact_id", "label_id"):
            current.setdefault(contact_pk, {})[label_pk] = membership_pk
    to_add: list[tuple[int, int]] = []
    to_remove: list[int] = []
    for wix_id, want in wanted.items():
        contact_pk = pk_by_wix_id.get(wix_id)
        if contact_pk is None:
            continue  # a newer revision was written meanwhile: its memberships stand
        have = current.get(contact_pk)
        if have is None:  # a new contact, or one that had no labels (most of a full sync)
            to_add.extend([(contact_pk, label_pk) for label_pk in want])
            continue
        to_add.extend((contact_pk, label_pk) for label_pk in want - have.keys())
        to_remove.extend(
            membership_pk for label_pk, membership_pk in have.items() if label_pk not in want
        )
    if to_remove:
        ContactLabel.objects.filter(pk__in=to_remove).delete()
    if to_add:
        _insert_memberships(to_add)


def contacts_delete(pks: Sequence[int]) -> int:
    """Delete cached contacts (gone from Wix) and their memberships."""
    memberships_write_lock()
    for start in range(0, len(pks), DELETE_BATCH):
        batch = pks[start : start + DELETE_BATCH]
        ContactLabel.objects.filter(contact_id__in=batch).delete()
        Contact.objects.filter(pk__in=batch).delete()
    _changed()
    return len(pks)


def memberships_add(*, contact_pks: Sequence[int], label_pks: Sequence[int]) -> None:
    """Give these contacts these labels in the cache (after Wix did), skipping what exists.
    Nothing to write tells no listener: a living label's job that Wix refused for its only
    contact would otherwise queue the pass that sends it again, and again."""
    if not contact_pks or not label_pks:
        return
    ContactLabel.objects.bulk_create(
        [ContactLabel(contact_id=c, label_id=lb) for c in contact_pks for lb in label_pks],
        ignore_conflicts=True,
        batch_size=5000,
    )
    _changed()


def memberships_remove(*, contact_pks: Sequence[int], label_pks: Sequence[int]) -> None:
    """Take these labels from these contacts in the cache (after Wix did); as above, nothing
    removed tells no listener."""
    if not contact_pks or not label_pks:
        return
    removed, _by_model = ContactLabel.objects.filter(
        contact_id__in=contact_pks, label_id__in=label_pks
    ).delete()
    if removed:
        _changed()
