"""Label from a list: read a pasted list or a CSV file of email addresses and Wix contact ids,
find the contacts they name, and keep the result as a `ContactList`.

The text is read as a stream, row by row, and matched a thousand entries at a time, so a file of
100,000 rows costs about what a file of 1,000 costs per row, and memory does not grow with it:
the matched contacts are a roaring bitmap, what matched nobody goes straight into a compressed
CSV, and entries already seen are remembered by their hash.

What counts as an entry:
- in a file (CSV, any column order, comma or semicolon), the first email address or contact id
  of each row: a row is one person, and a second address in it would only add noise;
- in a pasted list, every email address and contact id, however they are separated (one per
  line, "Anna <anna@example.com>; bob@example.com", a column copied from a spreadsheet).
An email address matches every contact with that address, whatever its case. A row with text
but neither is "unreadable" and listed with the entries that matched nobody.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import CharField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower
from django.utils import timezone
from pyroaring import BitMap

from contacts.models import ContactList
from contacts.selectors import _by_ids
from labelsite.spreadsheets import csv_line, safe_cell
from wixcache.index import label_index
from wixcache.models import Contact, ContactLabel

MAX_ROWS = 100_000  # rows of a file or lines of a paste, and entries in all
MAX_LINE = 64 * 1024  # characters in one line of a file: a row is one person
MAX_TOKEN = 320  # characters in an entry: an address has at most 254
MAX_FILE_BYTES = 64 * 1024 * 1024
BATCH = 1000
PASTED = "a pasted list"

# Entries are the runs of text between these (one linear pass, whatever the input: a pattern
# that looked for "x@y" directly backtracked quadratically on a long run without an "@").
RUN = re.compile(r"[^\s<>()\[\]{},;:\"'\x00]+")
EMAIL = re.compile(r"[^@]+@[^@]+")
WIX_ID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")

NO_CONTACT_EMAIL = "No contact has this email address."
NO_CONTACT_ID = "No contact has this Wix contact id."
UNREADABLE = "No email address or Wix contact id in this row."
NOT_FOUND_HEADER = ["Entry", "Why it was not labelled"]

# The contacts page's email order is an expression index (wixcache.models.SORT_EMAIL): matching
# an address through the same expression finds it in that index, on both databases, without an
# index of its own for the sync to keep up. (A test checks the plan.)
EMAIL_KEY = RawSQL(
    "COALESCE(CASE WHEN \"email\" = '' THEN '1' ELSE '0' END, '') "
    "|| COALESCE(LOWER(\"email\"), '')",
    (),
    output_field=CharField(),
)


class ListProblem(Exception):
    """The list cannot be read as it is; the message says why and what to do."""


@dataclass(frozen=True)
class Entry:
    text: str  # as written (trimmed), for the download
    key: str  # lower-cased: what is matched
    is_email: bool


def _entries(text: str) -> Iterator[Entry]:
    """The email addresses and Wix contact ids in the text, in order."""
    for run in RUN.finditer(text):
        token = run.group().rstrip(".")  # the end of a sentence
        if len(token) > MAX_TOKEN:
            continue
        if WIX_ID.fullmatch(token):
            yield Entry(token, token.lower(), False)
        elif EMAIL.fullmatch(token):
            yield Entry(token, token.lower(), True)


def pasted_rows(text: str) -> Iterator[list[str]]:
    """Each non-blank line of a pasted list as one row of one cell."""
    for line in io.StringIO(text):
        if line.strip():
            yield [line]


def file_rows(upload) -> Iterator[list[str]]:
    """The rows of an uploaded CSV or text file, read as a stream. UTF-8 or UTF-16 (with or
    without a byte order mark); bytes that are neither are read as replacement characters (an
    address is plain ASCII, so a name in another encoding loses nothing that matters)."""
    if upload.size > MAX_FILE_BYTES:
        raise ListProblem(
            f"“{upload.name}” is {upload.size / 1024 / 1024:.0f} MB; a list can be at most "
            f"{MAX_FILE_BYTES // 1024 // 1024} MB. Keep only the email or contact id column, "
            "or split the file."
        )
    upload.seek(0)
    raw = upload.file
    start = raw.read(4)
    raw.seek(0)
    if start.startswith(b"PK\x03\x04"):
        raise ListProblem(
            f"“{upload.name}” is a spreadsheet file (Excel or similar). Save it as CSV "
            "(Save as, then CSV) and upload that, or paste the column."
        )
    text = io.TextIOWrapper(raw, encoding=_encoding(raw), errors="replace", newline="")
    lines = _lines(text, upload.name)
    first = next(lines, "")
    # Comma, semicolon (Excel in many countries) or tab, whichever the first row has most of.
    delimiter = max(",;\t", key=first.count)
    reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ListProblem(
                f"Row {reader.line_num} of “{upload.name}” could not be read as CSV ({error}). "
                "Check that its quotes are closed, or paste the column instead."
            ) from None
        if any(cell.strip() for cell in row):
            yield row


def _encoding(raw) -> str:
    """UTF-16 when the file starts with its byte order mark, or looks like it (a NUL beside
    every letter of its first line); else UTF-8, with or without a BOM."""
    start = raw.read(4096)
    raw.seek(0)
    if start[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    if len(start) >= 4 and start.count(0) * 3 >= len(start):
        return "utf-16-le" if start[1::2].count(0) > start[0::2].count(0) else "utf-16-be"
    return "utf-8-sig"


def _lines(text, name: str) -> Iterator[str]:
    """The file's lines, none longer than `MAX_LINE` characters (one row is one person: a
    longer one would be read whole into memory)."""
    number = 0
    while line := text.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE:
            raise ListProblem(
                f"Line {number:,} of “{name}” is longer than {MAX_LINE // 1024} KB. Keep only the "
                "email or contact id column, or paste the list instead."
            )
        yield line


def _row_entries(row: list[str], *, every: bool) -> list[Entry]:
    if every:
        return [entry for cell in row for entry in _entries(cell)]
    for cell in row:
        for entry in _entries(cell):
            return [entry]
    return []


class _NotFound:
    """The entries that matched nobody, as compressed CSV lines."""

    def __init__(self) -> None:
        self._zip = zlib.compressobj(6)
        self._parts = [self._zip.compress(csv_line(NOT_FOUND_HEADER).encode())]

    def add(self, text: str, why: str) -> None:
        self._parts.append(self._zip.compress(csv_line([safe_cell(text), why]).encode()))

    def finish(self) -> bytes:
        self._parts.append(self._zip.flush())
        return b"".join(self._parts)


def contacts_by_email(keys: list[str]):
    """The contacts whose `EMAIL_KEY` is one of `keys` ("0" and the lower-cased address)."""
    return Contact.objects.alias(email_key=EMAIL_KEY).filter(email_key__in=keys).order_by()


def _match(batch: list[Entry]) -> dict[str, list[int]]:
    """The contacts each entry of the batch names, by entry key: two queries at most."""
    found: dict[str, list[int]] = {}
    emails = ["0" + e.key for e in batch if e.is_email]
    if emails:
        rows = contacts_by_email(emails).values_list("pk", Lower("email"))
        for pk, email in rows:
            found.setdefault(email, []).append(pk)
    wix_ids = [e.key for e in batch if not e.is_email]
    if wix_ids:
        for pk, wix_id in Contact.objects.filter(wix_id__in=wix_ids).values_list("pk", "wix_id"):
            found.setdefault(wix_id.lower(), []).append(pk)
    return found


def contact_list_read(rows: Iterable[list[str]], *, source: str, every: bool, user) -> ContactList:
    """Read the rows (`pasted_rows` or `file_rows`), match them and keep the result.

    `every`: every entry of a row (a pasted list), or its first (a file). The first row of a file
    without an entry is its heading and is not counted. Raises `ListProblem` for a list that is
    too long or holds no entry at all."""
    with _planned_for_index():
        return _read(rows, source=source, every=every, user=user)


@contextlib.contextmanager
def _planned_for_index():
    """PostgreSQL's planner does not count the cost of working out `EMAIL_KEY` for each row:
    below a few hundred thousand contacts it reads the whole table for a batch of a thousand
    addresses (80 ms at 100k) rather than probe the index a thousand times (12 ms). The read
    runs in one transaction that tells it not to."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        yield


def _read(rows: Iterable[list[str]], *, source: str, every: bool, user) -> ContactList:
    matched, not_found = BitMap(), _NotFound()
    kept = ContactList(source=source[:200], created_by=user)
    seen: set[int] = set()
    batch: list[Entry] = []

    def flush() -> None:
        found = _match(batch)
        for entry in batch:
            pks = found.get(entry.key)
            if pks:
                matched.update(pks)
                kept.found_entries += 1
            else:
                kept.not_found_entries += 1
                not_found.add(entry.text, NO_CONTACT_EMAIL if entry.is_email else NO_CONTACT_ID)
        batch.clear()

    for number, row in enumerate(rows):
        entries = _row_entries(row, every=every)
        if not entries and not every and number == 0:
            continue  # a file's heading (its first row only)
        kept.rows += 1
        if kept.rows > MAX_ROWS:
            raise ListProblem(
                f"This list has more than {MAX_ROWS:,} rows. Split it into parts of at most "
                f"{MAX_ROWS:,} and label each."
            )
        if not entries:
            kept.unreadable += 1
            not_found.add(" ".join(c.strip() for c in row if c.strip())[:200], UNREADABLE)
        for entry in entries:
            if kept.entries >= MAX_ROWS:
                raise ListProblem(
                    f"This list has more than {MAX_ROWS:,} email addresses and contact ids. "
                    f"Split it into parts of at most {MAX_ROWS:,} and label each."
                )
            digest = hash(entry.key)
            if digest in seen:
                kept.duplicates += 1
                continue
            seen.add(digest)
            kept.entries += 1
            batch.append(entry)
            if len(batch) >= BATCH:
                flush()
    if batch:
        flush()
    if not kept.entries:
        raise ListProblem(
            "No email address or Wix contact id was found in this list. Put one per line, or "
            "upload a CSV file with a column of them."
            if kept.rows
            else "The list is empty. Paste email addresses or Wix contact ids, or choose a file."
        )
    kept.matched, kept.matched_count = matched.serialize(), len(matched)
    kept.not_found = not_found.finish()
    kept.save()
    ContactList.objects.filter(
        created_at__lt=timezone.now() - timedelta(days=ContactList.KEPT_DAYS)
    ).delete()
    return kept


def contact_list_members(contact_list: ContactList) -> BitMap:
    return BitMap.deserialize(bytes(contact_list.matched))


def not_found_lines(contact_list: ContactList) -> Iterator[str]:
    """The download of what matched nobody, as text lines, decompressed a piece at a time."""
    unzip = zlib.decompressobj()
    data = bytes(contact_list.not_found)
    rest = ""
    for start in range(0, len(data), 64 * 1024):
        rest += unzip.decompress(data[start : start + 64 * 1024]).decode()
        lines = rest.splitlines(keepends=True)
        rest = lines.pop() if lines and not lines[-1].endswith("\n") else ""
        yield from lines
    rest += unzip.flush().decode()
    if rest:
        yield rest


def contact_list_split(contact_list: ContactList, *, label_pk: int) -> tuple[BitMap, BitMap]:
    """(the list's contacts still cached, those of them that hold the label): from the label
    index when it may answer, else from the tables, a few thousand contacts per query."""
    members = contact_list_members(contact_list)
    index = label_index()
    if index is not None:
        present = members & index.everyone
        return present, present & index.label(label_pk)
    present = BitMap(pk for chunk in _by_ids(members, ("pk",)) for (pk,) in chunk)
    holders, pks = BitMap(), list(present)
    for start in range(0, len(pks), 5000):
        chunk = pks[start : start + 5000]
        holders.update(
            ContactLabel.objects.filter(label_id=label_pk, contact_id__in=chunk).values_list(
                "contact_id", flat=True
            )
        )
    return present, holders


def contact_list_changing(contact_list: ContactList, *, label_pk: int, remove: bool) -> BitMap:
    """The list's contacts (those still cached) that the change would change: those lacking the
    label, to add it; those holding it, to remove it."""
    present, holders = contact_list_split(contact_list, label_pk=label_pk)
    return holders if remove else present - holders


def wix_ids_in_created_order(pks: BitMap) -> list[str]:
    rows = sorted(row for chunk in _by_ids(pks, ("remote_created_at", "wix_id")) for row in chunk)
    return [wix_id for _created, wix_id in rows]
