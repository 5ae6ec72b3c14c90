"""CSV export of an audience, produced row by row so 100k contacts stream with flat memory."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from contacts.segments import SegmentRules
from contacts.selectors import contact_rows_for_export

HEADER = ["Name", "Email", "Phone", "Labels", "Created"]
BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    def write(self, value: str) -> str:
        return value


def safe_cell(value: str) -> str:
    """Spreadsheets run cells that start like a formula; a leading quote keeps them text."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def contact_csv_rows(
    *, rules: SegmentRules, excel: bool = False, chunk_size: int = 2000
) -> Iterator[str]:
    """The audience as CSV lines (UTF-8 text; `excel` starts with a BOM so Excel reads UTF-8)."""
    writer = csv.writer(_Line())
    yield (BOM if excel else "") + writer.writerow(HEADER)
    for contact, label_names in contact_rows_for_export(rules=rules, chunk_size=chunk_size):
        name = f"{contact.first_name} {contact.last_name}".strip()
        yield writer.writerow(
            [
                safe_cell(name),
                safe_cell(contact.email),
                safe_cell(contact.phone),
                safe_cell("; ".join(label_names)),
                contact.remote_created_at.strftime("%Y-%m-%d %H:%M"),
            ]
        )
