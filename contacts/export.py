"""CSV export of an audience, produced row by row so 100k contacts stream with flat memory."""

from __future__ import annotations

from collections.abc import Iterator

from contacts.segments import SegmentRules
from contacts.selectors import contact_rows_for_export
from labelsite.spreadsheets import BOM, csv_line, safe_cell

HEADER = ["Name", "Email", "Phone", "Labels", "Created"]


def contact_csv_rows(
    *, rules: SegmentRules, excel: bool = False, chunk_size: int = 2000
) -> Iterator[str]:
    """The audience as CSV lines (UTF-8 text; `excel` starts with a BOM so Excel reads UTF-8)."""
    yield (BOM if excel else "") + csv_line(HEADER)
    for contact, label_names in contact_rows_for_export(rules=rules, chunk_size=chunk_size):
        name = f"{contact.first_name} {contact.last_name}".strip()
        yield csv_line(
            [
                safe_cell(name),
                safe_cell(contact.email),
                safe_cell(contact.phone),
                safe_cell("; ".join(label_names)),
                contact.remote_created_at.strftime("%Y-%m-%d %H:%M"),
            ]
        )
