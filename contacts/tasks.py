"""The worker's part of the contacts pages: saved audiences' sizes, counted regularly, and the
passes that keep living labels."""

from django.conf import settings
from django.tasks import task

from contacts.living import living_labels_keep
from contacts.services import audience_sizes_record
from labelsite.scheduling import queue_next_round


@task
def record_audience_sizes() -> str:
    """Count every saved audience as today's figure; then queue the next round."""
    try:
        counted = audience_sizes_record()
    finally:
        audience_sizes_schedule(force=True)
    return f"{counted} audience{'' if counted == 1 else 's'} counted."


def audience_sizes_schedule(*, force: bool = False) -> bool:
    return queue_next_round(
        record_audience_sizes, seconds=settings.AUDIENCE_SIZE_INTERVAL_SECONDS, force=force
    )


@task
def keep_living_labels(*, why: str = "") -> str:
    """One pass over the living labels (`contacts.living`), queued by a change."""
    return _said(living_labels_keep(why=why))


@task
def living_labels_round() -> str:
    """The regular pass, which also catches what moves with the clock ("the last 30 days"); it
    queues the next. A task of its own, so that a pass a change queued never stands for it."""
    try:
        counts = living_labels_keep(why="the regular pass")
    finally:
        living_labels_schedule(force=True)
    return _said(counts)


def _said(counts: dict[str, int]) -> str:
    """A pass's counts as the task's result: "3 equal, 1 changed, 0 busy, 0 paused, 0 waiting"."""
    return ", ".join(f"{n} {what}" for what, n in counts.items()) + "."


def living_labels_schedule(*, force: bool = False) -> bool:
    return queue_next_round(
        living_labels_round, seconds=settings.LIVING_LABEL_INTERVAL_SECONDS, force=force
    )
