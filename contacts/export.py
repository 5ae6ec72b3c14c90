"""CSV export of an audience, produced row by row so 100k contacts stream with flat memory.

The columns are the ones a Mailchimp or HubSpot import maps: first and last name apart, and the
Wix contact id to match the rows back to Wix."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from urllib.parse import quote

from django.utils.text import slugify

from contacts.segments import SegmentRules
from contacts.selectors import contact_rows_for_export
from labelsite.spreadsheets import BOM, csv_line, safe_cell

HEADER = ["First name", "Last name", "Email", "Phone", "Labels", "Created", "Wix contact id"]


def contact_csv_rows(
    *, rules: SegmentRules, excel: bool = False, chunk_size: int = 2000
) -> Iterator[str]:
    """The audience as CSV lines (UTF-8 text; `excel` starts with a BOM so Excel reads UTF-8)."""
    yield (BOM if excel else "") + csv_line(HEADER)
    for contact, label_names in contact_rows_for_export(rules=rules, chunk_size=chunk_size):
        yield csv_line(
            [
                safe_cell(contact.first_name),
                safe_cell(contact.last_name),
                safe_cell(contact.email),
                safe_cell(contact.phone),
                safe_cell("; ".join(label_names)),
                contact.remote_created_at.strftime("%Y-%m-%d %H:%M"),
                safe_cell(contact.wix_id),
            ]
        )


def export_content_disposition(*, audience_name: str | None, day: date) -> str:
    """`attachment` with a file name from the audience and the day: "vip-customers-2026-12-02.csv"
    ("contacts-…" without an audience). The plain `filename` is always a safe ASCII slug; a name
    that loses letters on the way to ASCII is also given whole as RFC 5987 `filename*`."""
    stem = audience_name or "contacts"
    ascii_slug = slugify(stem) or "audience"
    header = f'attachment; filename="{ascii_slug}-{day.isoformat()}.csv"'
    unicode_slug = slugify(stem, allow_unicode=True)
    if unicode_slug and unicode_slug != ascii_slug:
        header += f"; filename*=UTF-8''{quote(f'{unicode_slug}-{day.isoformat()}.csv')}"
    return header
