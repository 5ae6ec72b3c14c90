"""The history as CSV, produced row by row so that a long history streams with flat memory."""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone

from journal.models import OperationRef
from journal.selectors import OperationFilter, operation_actor, operation_list, touched_by_kind
from labelsite.spreadsheets import csv_line, safe_cell

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


def operation_csv_rows(*, filters: OperationFilter, chunk_size: int = 500) -> Iterator[str]:
    """The filtered history, newest first, as CSV lines (UTF-8 text), with every thing each
    operation touched; a key or id follows a name only where the row has two of that name."""
    yield csv_line(HEADER)
    for op in operation_list(filters=filters, refs_shown=None).iterator(chunk_size=chunk_size):
        things = touched_by_kind([op])[op.pk]
        yield csv_line(
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
