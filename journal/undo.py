"""Undo: an operation whose steps reverse another's, itself reversible again.

An operation's `reverse` is a list of steps (plain JSON). Each app registers how to carry out
its kinds of step (`step_kind`) and how to tell, after a crash, whether a step was carried out
in Wix (`settle`). Steps name labels by key and saved records by id, never by name.

- {"type": "labels", "add"|"remove": [key], "contacts": [Wix ids]}  (labels: a bulk job)
- {"type": "contact", "contact": Wix id, "add"|"remove": [key]}     (contacts: one contact)
- {"type": "restore", "deletion": LabelDeletion id}                  (labels: make it again)
- {"type": "delete", "key": key, "name": name}                       (labels: delete it again)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from journal.models import Operation, OperationRef
from journal.services import operation_done, operation_failed, operation_plan, operation_sent


class UndoRefused(Exception):
    """An undo labelsite will not do; `str()` is a sentence for the person."""


@dataclass(frozen=True)
class StepKind:
    # Carry the step out for `op` (the undo); returns the steps that reverse it, and whether it
    # started background work that ends the operation later.
    run: Callable[..., tuple[list[dict], bool]]
    # After a crash: if Wix carried the step out, make the cache follow and return the steps
    # that reverse it; else None (nothing changed).
    settle: Callable[..., list[dict] | None]
    # Check a step before it runs (raise an error with a sentence), without asking Wix.
    check: Callable[[dict], None] = lambda step: None


STEP_KINDS: dict[str, StepKind] = {}


def step_kind(name: str, kind: StepKind) -> None:
    STEP_KINDS[name] = kind


# What undoing each kind of operation needs (all of them), besides being allowed to do it.
UNDO_PERMISSIONS = {
    Operation.Kind.LABEL_DELETE: ("labels.change_label", "labels.delete_label"),
    Operation.Kind.LABEL_MERGE: ("labels.change_label", "labels.delete_label"),
    Operation.Kind.BULK_LABELS: ("contacts.label_contacts",),
    Operation.Kind.AUDIENCE_LABEL: ("contacts.label_contacts",),
    Operation.Kind.CONTACT_LABELS: ("contacts.label_contacts",),
}


def can_undo(user, op: Operation) -> bool:
    """Undo needs what the change needed; another person's change also needs a label
    manager's `change_label`."""
    kind = op.kind
    if kind == Operation.Kind.UNDO and op.reverses is not None:
        kind = op.reverses.kind
    needed = UNDO_PERMISSIONS.get(kind)
    if needed is None or not user.has_perms(needed):
        return False
    return op.user_id == user.pk or user.has_perm("labels.change_label")


def undo_available(op: Operation) -> bool:
    return (
        op.state == Operation.State.DONE
        and bool(op.reverse)
        and op.undo_until is not None
        and op.undo_until > timezone.now()
    )


def operation_undo(*, op_id: int, user) -> Operation:
    """Undo operation `op_id`; returns the undo operation. Once per operation, however often
    it is asked: a second request while the first runs, or after it, is refused."""
    with transaction.atomic():
        op = Operation.objects.select_for_update().filter(pk=op_id).first()
        if op is None:
            raise UndoRefused("There is no such change to undo.")
        busy = Operation.objects.filter(
            reverses=op, state__in=[*Operation.OPEN_STATES, Operation.State.DONE]
        )
        if op.state == Operation.State.REVERSED or busy.exists():
            raise UndoRefused(f"This has already been undone: {op.summary}.")
        if not undo_available(op):
            if op.state == Operation.State.DONE and op.reverse:
                raise UndoRefused(f"It is too late to undo this: {op.summary}.")
            raise UndoRefused(f"This cannot be undone: {op.summary}.")
        steps = list(op.reverse)
        for step in steps:
            try:
                STEP_KINDS[step["type"]].check(step)
            except Exception as error:  # the app's own refusal, in its words
                raise UndoRefused(str(error)) from error
        refs = [(r.kind, r.ref, r.name) for r in OperationRef.objects.filter(operation=op)]
        undo = operation_plan(
            kind=Operation.Kind.UNDO,
            user=user,
            summary=f"Undo: {op.summary}",
            args={"steps": steps},
            refs=refs,
            reverses=op,
        )
    return undo_steps_run(undo, user=user)


def undo_steps_run(undo: Operation, *, user) -> Operation:
    """Carry out an undo's steps in order. Steps that fail stay with the undone operation (its
    reverse keeps them), so that Undo can be tried again for the rest."""
    operation_sent(undo)
    steps = list(undo.args["steps"])
    reverse: list[dict] = []
    pending = False
    for index, step in enumerate(steps):
        try:
            step_reverse, started = STEP_KINDS[step["type"]].run(step, op=undo, user=user)
        except Exception as error:
            _undo_stopped(undo, done=steps[:index], left=steps[index:], reverse=reverse)
            raise UndoRefused(str(error)) from error
        reverse = step_reverse + reverse
        pending = pending or started
    with transaction.atomic():
        if pending:  # the jobs end it (operation_jobs_finished); the reverse is known now
            Operation.objects.filter(pk=undo.pk).update(reverse=reverse)
            undo.reverse = reverse
        else:
            operation_done(undo, reverse=reverse, outcome="Undone.")
    return undo


def _undo_stopped(undo: Operation, *, done: list, left: list, reverse: list) -> None:
    with transaction.atomic():
        if not done:
            operation_failed(undo, "Nothing was undone.")
            return
        # Part undone: this undo is done for what it did; the rest can be undone again.
        undo.args = {"steps": done}
        operation_done(undo, reverse=reverse, outcome="Partly undone; the rest can be tried again.")
        Operation.objects.filter(pk=undo.reverses_id).update(
            state=Operation.State.DONE, reverse=left, undo_until=undo.undo_until
        )
