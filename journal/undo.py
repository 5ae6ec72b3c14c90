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
from journal.services import (
    UNKNOWN_OUTCOME,
    operation_done,
    operation_failed,
    operation_plan,
    operation_sent,
)
from labelsite.wix import WixUnavailable


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


def _root_kind(op: Operation) -> str:
    """The kind of change an undo (of an undo, ...) goes back to."""
    kind, reverses_id = op.kind, op.reverses_id
    for _hop in range(50):
        if kind != Operation.Kind.UNDO or reverses_id is None:
            break
        kind, reverses_id = (
            Operation.objects.filter(pk=reverses_id).values_list("kind", "reverses_id").get()
        )
    return kind


def can_undo(user, op: Operation) -> bool:
    """Undo needs what the change needed; another person's change also needs a label
    manager's `change_label`."""
    needed = UNDO_PERMISSIONS.get(_root_kind(op))
    if needed is None or not user.has_perms(needed):
        return False
    return op.user_id == user.pk or user.has_perm("labels.change_label")


def _undoing(op: Operation):
    """The undos that take `op` back: running, or done in full."""
    return Operation.objects.filter(
        reverses=op, partial=False, state__in=[*Operation.OPEN_STATES, Operation.State.DONE]
    )


def undo_offered(op: Operation) -> bool:
    """Undo can be offered: available, and no undo of it running or done."""
    return undo_available(op) and not _undoing(op).exists()


def undo_available(op: Operation) -> bool:
    """Done, with an undo window still open (only an operation with a reverse gets one, so its
    reverse, perhaps 100k contacts long, need not be read)."""
    return (
        op.state == Operation.State.DONE
        and op.undo_until is not None
        and op.undo_until > timezone.now()
    )


# Registered by the app that runs bulk jobs: each ends an operation whose jobs have finished.
JOBS_FINISHED_CHECKS: list[Callable[[Operation], object]] = []


def operation_undo(*, op_id: int, user) -> Operation:
    """Undo operation `op_id`; returns the undo operation. Once per operation, however often
    it is asked: a second request while the first runs, or after it, is refused."""
    with transaction.atomic():
        op = Operation.objects.select_for_update().filter(pk=op_id).first()
        if op is None:
            raise UndoRefused("There is no such change to undo.")
        if op.state == Operation.State.REVERSED or _undoing(op).exists():
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
            # Until every step has run, the undo's first jobs to finish do not end it.
            args={"steps": steps, "steps_running": True},
            refs=refs,
            reverses=op,
        )
    return undo_steps_run(undo, user=user)


def undo_steps_run(undo: Operation, *, user) -> Operation:
    """Carry out an undo's steps in order. Steps Wix refused stay with the undone operation (its
    reverse keeps them), so that Undo can be tried again for the rest. When Wix does not answer,
    the undo stays open and is settled against Wix (`journal.settle`)."""
    operation_sent(undo)
    steps = list(undo.args["steps"])
    reverse: list[dict] = []
    pending = False
    for index, step in enumerate(steps):
        try:
            step_reverse, started = STEP_KINDS[step["type"]].run(step, op=undo, user=user)
        except WixUnavailable as error:
            if error.reached:  # Wix may have carried out this step: settling finds out
                Operation.objects.filter(pk=undo.pk).update(process="", outcome=UNKNOWN_OUTCOME)
                raise UndoRefused(str(error)) from error
            # Wix never got this step: it stops here like a refusal.
            undo_stopped(undo, done=steps[:index], left=steps[index:], reverse=reverse)
            raise UndoRefused(str(error)) from error
        except Exception as error:
            undo_stopped(undo, done=steps[:index], left=steps[index:], reverse=reverse)
            raise UndoRefused(str(error)) from error
        reverse = step_reverse + reverse
        pending = pending or started
    with transaction.atomic():
        undo.args = {**undo.args, "steps_running": False}
        if pending:  # the jobs end it (operation_jobs_finished); the reverse is known now
            undo.reverse = reverse
            Operation.objects.filter(pk=undo.pk).update(reverse=reverse, args=undo.args)
        else:
            operation_done(undo, reverse=reverse, outcome="Undone.", args=undo.args)
    if pending:  # they may all have finished while later steps ran
        for check in JOBS_FINISHED_CHECKS:
            check(undo)
    return undo


def undo_stopped(undo: Operation, *, done: list, left: list, reverse: list) -> None:
    """Some steps were carried out and the next was refused (or, after a crash, not sent):
    the undo is done for what it did, partly; the undone operation keeps the rest, with its
    own undo window, to be undone again."""
    with transaction.atomic():
        if not done:
            operation_failed(undo, "Nothing was undone.")
            return
        undo.partial = True
        undo.args = {"steps": done, "steps_running": False}
        undo.save(update_fields=["partial", "args"])
        operation_done(undo, reverse=reverse, outcome="Partly undone; the rest can be tried again.")
        Operation.objects.filter(pk=undo.reverses_id).update(reverse=left)
