"""The history as CSV, produced row by row so that a long history streams with flat memory."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.utils import timezone

from journal.models import OperationRef
from journal.selectors import OperationFilter, operation_actor, operation_list, touched_by_kind

HEADER = [
    "Time",
    "Person",
    "Kind",
    "State",
    "Summary",
    "Outcome",
    "Labels",
    "Contacts",
    "Audiences",
]
COLUMNS = (OperationRef.Kind.LABEL, OperationRef.Kind.CONTACT, OperationRef.Kind.AUDIENCE)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    def write(self, value: str) -> str:
        return value


def safe_cell(value: str) -> str:
    """Spreadsheets run cells that start like a formula; a leading quote keeps them text."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def operation_csv_rows(*, filters: OperationFilter, chunk_size: int = 500) -> Iterator[str]:
    """The filtered history, newest first, as CSV lines (UTF-8 text), with every thing each
    operation touched; a key or id follows a name only where the row has two of that name."""
    writer = csv.writer(_Line())
    yield writer.writerow(HEADER)
    for op in operation_list(filters=filters, refs_shown=None).iterator(chunk_size=chunk_size):
        things = touched_by_kind([op])[op.pk]
        yield writer.writerow(
            [
                timezone.localtime(op.created_at).isoformat(),
                safe_cell(operation_actor(op)),
                op.get_kind_display(),
                op.get_state_display(),
                safe_cell(op.summary),
                safe_cell(op.outcome),
                *(safe_cell("; ".join(t.text for t in things[kind])) for kind in COLUMNS),
            ]
        )
