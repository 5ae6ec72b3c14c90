"""Writing the journal. Callers follow one pattern for every change that asks Wix:

    op = operation_plan(...)          # committed before Wix is asked
    operation_sent(op)                # just before the request
    ... ask Wix ...
    with transaction.atomic():
        ... the cache follows ...
        operation_done(op, ...)       # in the same transaction

and `operation_failed(op, why)` when Wix refused (nothing changed). Work done later by a bulk
job ends its operation from the job (`operation_jobs_finished`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from journal.models import Operation, OperationRef
from labelsite.processes import this_process
from labelsite.wix import WixUnavailable

UNKNOWN_OUTCOME = (
    "Wix did not answer, so it is not known yet whether this happened; labelsite checks with "
    "Wix by itself and this entry shows the outcome."
)

Ref = tuple[str, str, str]  # (OperationRef.Kind, key or id, name as written)


class WixOutcomeUnknown(WixUnavailable):
    """Wix was asked to change something and did not answer: it may or may not have done it.
    The operation stays open and is settled against Wix (`journal.settle`)."""

    def advice(self) -> str:
        return (
            "So it is not known yet whether the change happened; labelsite checks with Wix by "
            "itself, and the history shows the outcome: do it again only if it says it failed."
        )


# Sent inside the transaction that restores a label under a new key (Wix never reuses keys):
# receivers rewrite what names the old key (saved audiences, pending jobs). Arguments: old_key,
# new_key.
label_key_replaced = Signal()


def undo_seconds() -> int:
    return int(getattr(settings, "LABEL_UNDO_SECONDS", 86400))


def operation_plan(
    *,
    kind: str,
    user,
    summary: str,
    args: dict | None = None,
    reverse: list | None = None,
    refs: Iterable[Ref] = (),
    reverses: Operation | None = None,
    state: str = Operation.State.PLANNED,
) -> Operation:
    """Write an operation down. Outside a transaction it is committed when this returns."""
    with transaction.atomic():
        op = Operation.objects.create(
            kind=kind,
            state=state,
            user=user if getattr(user, "pk", None) else None,
            summary=summary[:500],
            args=args or {},
            reverse=reverse or [],
            reverses=reverses,
            process=this_process(),
        )
        operation_refs_add(op, refs)
    return op


def operation_refs_add(op: Operation, refs: Iterable[Ref]) -> None:
    wanted = {(kind, ref): name for kind, ref, name in refs}
    OperationRef.objects.bulk_create(
        OperationRef(operation=op, kind=kind, ref=ref[:255], name=(name or "")[:255])
        for (kind, ref), name in wanted.items()
    )


def operation_sent(op: Operation) -> None:
    """Wix is about to be asked: from here on, only Wix knows whether the change happened."""
    op.state = Operation.State.SENT
    Operation.objects.filter(pk=op.pk).update(
        state=op.state, updated_at=timezone.now(), process=this_process()
    )


@contextmanager
def asking_wix(op: Operation) -> Iterator[None]:
    """Around the request that changes Wix: marks the operation sent first. A refusal (or any
    error before an answer that is not a timeout) fails it: nothing changed. When Wix did not
    answer, the change may have happened: the operation stays sent, for settling."""
    operation_sent(op)
    try:
        yield
    except WixUnavailable as error:
        if not error.reached:
            # Every attempt failed to connect: Wix never got the request.
            operation_failed(op, f"{error.summary()} ({error.message}); nothing was sent.")
            raise
        # Nobody is carrying it on: the settling task may take it at once.
        Operation.objects.filter(pk=op.pk).update(outcome=UNKNOWN_OUTCOME, process="")
        raise WixOutcomeUnknown(
            error.message,
            status=error.status,
            code=error.code,
            description=error.description,
            data=error.data,
            method=error.method,
            path=error.path,
        ) from error
    except Exception as error:
        operation_failed(op, str(error) or type(error).__name__)
        raise


def hands_over_on_error(function: Callable) -> Callable:
    """For the functions that make the cache follow what Wix accepted (their first argument
    is the operation): if one fails (a database error, a deadlock), the operation is left for
    settling at once rather than waiting for this process to die."""

    @functools.wraps(function)
    def follow(op: Operation, *args, **kwargs):
        try:
            return function(op, *args, **kwargs)
        except Exception:
            Operation.objects.filter(pk=op.pk, state__in=Operation.OPEN_STATES).update(process="")
            raise

    return follow


def operation_done(
    op: Operation, *, outcome: str = "", reverse: list | None = None, args: dict | None = None
) -> Operation:
    """Wix accepted; call inside the transaction in which the cache follows. An operation with
    a reverse can be undone for LABEL_UNDO_SECONDS."""
    now = timezone.now()
    op.state = Operation.State.DONE
    op.finished_at = now
    op.outcome = outcome or op.outcome
    if reverse is not None:
        op.reverse = reverse
    if args is not None:
        op.args = args
    op.undo_until = now + timedelta(seconds=undo_seconds()) if op.reverse else None
    op.save(
        update_fields=[
            "state",
            "finished_at",
            "outcome",
            "reverse",
            "args",
            "undo_until",
            "updated_at",
        ]
    )
    if op.reverses_id is not None and not op.partial:
        Operation.objects.filter(pk=op.reverses_id, state=Operation.State.DONE).update(
            state=Operation.State.REVERSED, undo_until=None, updated_at=now
        )
    return op


def operation_failed(op: Operation, why: str) -> Operation:
    """Nothing changed (Wix refused, or was never asked)."""
    op.state = Operation.State.FAILED
    op.finished_at = timezone.now()
    op.outcome = why
    op.undo_until = None
    op.save(update_fields=["state", "finished_at", "outcome", "undo_until", "updated_at"])
    return op


def operation_keys_replace(*, old_key: str, new_key: str, name: str) -> None:
    """A label came back under a new key: history and open undos name the new key too, and the
    apps rewrite their own references. Call inside the restoring transaction."""
    ops = list(
        Operation.objects.filter(refs__kind=OperationRef.Kind.LABEL, refs__ref=old_key)
        .distinct()
        .only("pk", "reverse", "args")
    )
    OperationRef.objects.bulk_create(
        OperationRef(operation=op, kind=OperationRef.Kind.LABEL, ref=new_key, name=name)
        for op in ops
    )
    for op in ops:
        reverse = _replace_key(op.reverse, old_key, new_key)
        if reverse != op.reverse:
            Operation.objects.filter(pk=op.pk).update(reverse=reverse)
    label_key_replaced.send(sender=Operation, old_key=old_key, new_key=new_key)


def _replace_key(value, old: str, new: str):
    if isinstance(value, str):
        return new if value == old else value
    if isinstance(value, list):
        return [_replace_key(item, old, new) for item in value]
    if isinstance(value, dict):
        return {
            k: (value[k] if k == "contacts" else _replace_key(value[k], old, new)) for k in value
        }
    return value


def operation_jobs_finished(op_id: int | None, jobs: Sequence) -> None:
    """Called by a bulk job that ended, with every job of its operation: the operation is done
    once all have finished (failed if none changed anything)."""
    if op_id is None or not all(job.is_finished for job in jobs):
        return
    op = Operation.objects.select_for_update().filter(pk=op_id).first()
    if op is None or not op.is_open or op.args.get("steps_running"):
        return  # an undo whose later steps still run ends when they have
    outcome = " ".join(job.outcome for job in jobs if job.outcome)
    if (
        jobs
        and all(job.done == 0 and job.total > 0 for job in jobs)
        and not op.args.get("changed_before_jobs")
    ):
        operation_failed(op, outcome)
    else:
        operation_done(op, outcome=outcome)


def operations_open(*, older_than_seconds: float = 0) -> list[Operation]:
    since = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Operation.objects.filter(state__in=Operation.OPEN_STATES, updated_at__lte=since)
        .exclude(kind__in=[Operation.Kind.SYNC])
        .order_by("created_at", "id")
    )
