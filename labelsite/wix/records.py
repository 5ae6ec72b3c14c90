"""Wix's answers as small frozen records: the client decodes JSON into these and nothing above it
reads Wix JSON.

The structs mirror Wix's REST shapes (camelCase names, `info.labelKeys.items` and so on), so that
`msgspec` decodes a page of 1,000 contacts straight from the response bytes in C, dates included;
properties give the flat view the cache wants. Fields Wix may leave out or send as null have
defaults; fields labelsite does not use are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

LABEL_TYPES = frozenset({"SYSTEM", "USER_DEFINED", "WIX_APP_DEFINED"})


class Record(msgspec.Struct, frozen=True, rename="camel", gc=False):
    """A decoded piece of a Wix answer (no reference cycles, so the garbage collector skips it)."""


def wix_datetime(value: datetime) -> str:
    """A datetime as Wix writes it: ISO-8601 in UTC with milliseconds and a `Z`."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WixLabel(Record):
    key: str
    display_name: str = ""
    label_type: str | None = None
    namespace: str | None = ""
    namespace_display_name: str | None = ""
    created_date: datetime | None = None
    updated_date: datetime | None = None

    @property
    def type(self) -> str:
        """The label type, or UNKNOWN for one labelsite does not know."""
        return self.label_type if self.label_type in LABEL_TYPES else "UNKNOWN"


class _Name(Record):
    first: str | None = None
    last: str | None = None


class _LabelKeys(Record):
    items: tuple[str, ...] = ()


class _Info(Record):
    name: _Name | None = None
    label_keys: _LabelKeys | None = None


class _PrimaryInfo(Record):
    email: str | None = None
    phone: str | None = None


_NO_INFO = _Info()
_NO_PRIMARY = _PrimaryInfo()


class WixContact(Record):
    id: str
    created_date: datetime
    revision: int = 0
    updated_date: datetime | None = None
    info: _Info | None = None
    primary_info: _PrimaryInfo | None = None

    def __post_init__(self) -> None:
        # PostgreSQL cannot store NUL in text and SQLite's JSON functions cut a string at it: a
        # contact whose id or a label key holds one cannot be read (it is set aside), rather
        # than stored under a cut id, another contact's maybe. (Names lose the NUL when stored.)
        if "\x00" in self.id or any("\x00" in key for key in self.label_keys):
            raise ValueError("its id or a label key holds a NUL character")

    @property
    def first_name(self) -> str:
        name = (self.info or _NO_INFO).name
        return (name.first or "") if name else ""

    @property
    def last_name(self) -> str:
        name = (self.info or _NO_INFO).name
        return (name.last or "") if name else ""

    @property
    def email(self) -> str:
        return (self.primary_info or _NO_PRIMARY).email or ""

    @property
    def phone(self) -> str:
        return (self.primary_info or _NO_PRIMARY).phone or ""

    @property
    def label_keys(self) -> tuple[str, ...]:
        keys = (self.info or _NO_INFO).label_keys
        return keys.items if keys else ()

    @property
    def changed_at(self) -> datetime:
        return self.updated_date or self.created_date


class PagingMetadata(Record):
    count: int | None = None
    offset: int | None = None
    total: int | None = None
    too_many_to_count: bool | None = None


class SetAside(Record):
    """A contact in Wix's answer that labelsite cannot read, and why (kept for people to see)."""

    id: str
    reason: str


class ContactsPage(Record):
    """One answer of Query Contacts. `set_aside` holds the contacts that could not be read
    (never in Wix's JSON: filled by `decode_contacts_page`)."""

    contacts: tuple[WixContact, ...] = ()
    paging_metadata: PagingMetadata | None = None
    set_aside: tuple[SetAside, ...] = ()

    @property
    def total(self) -> int | None:
        return self.paging_metadata.total if self.paging_metadata else None


class LabelsPage(Record):
    """One answer of Query Labels. Wix's REST example names the paging block `metadata`, its SDK
    type `pagingMetadata`: either is read."""

    labels: tuple[WixLabel, ...] = ()
    paging_metadata: PagingMetadata | None = None
    metadata: PagingMetadata | None = None

    @property
    def paging(self) -> PagingMetadata | None:
        return self.paging_metadata or self.metadata


class BulkJobError(Record):
    id: str | None = None  # the contact, where Wix says which
    message: str | None = None
    code: str | None = None


class BulkJob(Record):
    """A Wix bulk job (Get Bulk Job's `job`)."""

    id: str = ""
    type: str | None = None
    status: str | None = None
    total_items: int | None = None
    success_total: int = 0
    failed_total: int = 0
    errors: tuple[BulkJobError | str, ...] = ()

    @property
    def error_messages(self) -> list[str]:
        return [e if isinstance(e, str) else (e.message or e.code or "") for e in self.errors]

    @property
    def failed_ids(self) -> list[str]:
        """The contacts Wix names as failed (it may name fewer than `failed_total`)."""
        return [e.id for e in self.errors if not isinstance(e, str) and e.id]

    @property
    def finished(self) -> bool:
        """COMPLETED is the only end Wix documents; NEW, LOADING, RUNNING, INDEXING and
        UNKNOWN_STATUS (or a status added later) mean not yet."""
        return self.status == "COMPLETED"


class _LenientContactsPage(Record):
    contacts: tuple[msgspec.Raw, ...] = ()
    paging_metadata: PagingMetadata | None = None


class _AnyId(Record):
    id: object = None


def decode_contacts_page(content: bytes) -> ContactsPage:
    """A Query Contacts answer. One contact that does not fit (a missing date, a wrong type)
    must not cost the others: the page is decoded again contact by contact, and the ones that
    cannot be read are set aside with the reason."""
    try:
        return msgspec.json.decode(content, type=ContactsPage)
    except msgspec.ValidationError:
        lenient = msgspec.json.decode(content, type=_LenientContactsPage)
    contacts, set_aside = [], []
    for raw in lenient.contacts:
        try:
            contacts.append(msgspec.json.decode(raw, type=WixContact))
        except msgspec.ValidationError as error:
            contact_id = str(msgspec.json.decode(raw, type=_AnyId).id or "?")
            # Kept on the run for people to read (PostgreSQL's JSON cannot hold a NUL either).
            contact_id = contact_id.replace("\x00", "\\x00")[:100]
            set_aside.append(SetAside(id=contact_id, reason=str(error)))
    return ContactsPage(tuple(contacts), lenient.paging_metadata, tuple(set_aside))


@dataclass(frozen=True, slots=True)
class ContactWalkPage:
    """One page of a walk through contacts by created date, and the span of dates it vouches for.

    Every contact Wix had with `lo <= createdDate < hi` (or `>= lo` on the last page) is in
    `contacts` or among `lo_ids` (taken at exactly `lo` already; inside one crowded instant
    they include this page's own). `total` is Wix's count of what
    matched the query that fetched the page.
    """

    contacts: tuple[WixContact, ...]
    lo: datetime | None
    hi: datetime | None
    lo_ids: frozenset[str]
    next_lo_ids: frozenset[str]
    total: int | None
    last: bool
    set_aside: tuple[SetAside, ...] = ()


def records_from_json[R: Record](items: list[dict], record_type: type[R]) -> list[R]:
    """Records from Wix JSON already decoded into dicts (seed data, fixtures, stored events)."""
    return msgspec.convert(items, list[record_type])
