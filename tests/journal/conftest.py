from __future__ import annotations

from datetime import datetime

import pytest

from journal.models import Operation, OperationRef

Kind, State, Ref = Operation.Kind, Operation.State, OperationRef.Kind


@pytest.fixture
def make_operation(db):
    """`make_operation(summary, kind=..., refs=[(kind, ref, name)], at=datetime)`: one journal
    entry as the services write it, at the time given."""

    def make(
        summary: str,
        *,
        kind: str = Kind.LABEL_CREATE,
        state: str = State.DONE,
        user=None,
        refs: list[tuple[str, str, str]] = (),
        at: datetime | None = None,
        outcome: str = "",
    ) -> Operation:
        op = Operation.objects.create(
            kind=kind, state=state, user=user, summary=summary, outcome=outcome
        )
        OperationRef.objects.bulk_create(
            OperationRef(operation=op, kind=k, ref=r, name=n) for k, r, n in refs
        )
        if at is not None:
            Operation.objects.filter(pk=op.pk).update(created_at=at)
            op.created_at = at
        return op

    return make
