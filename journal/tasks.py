"""The worker's part of the journal: settle what crashed processes left open, regularly."""

from django.conf import settings
from django.tasks import task

from journal.settle import operations_settle
from labelsite.scheduling import queue_next_round
from wixcache.budget import site_client
from wixcache.index import index_prune


@task
def settle_operations(*, again: bool = True) -> str:
    """Settle open operations against Wix; then queue the next round."""
    try:
        with site_client(interactive=False) as client:
            counts = operations_settle(client=client)
        index_prune()  # the label index's change log: housekeeping on the same round
    finally:
        if again:  # unless another round is queued already
            settle_operations_schedule()
    return f"Settled: {counts['done']} done, {counts['failed']} failed, {counts['open']} open."


def settle_operations_schedule(*, force: bool = False) -> bool:
    return queue_next_round(
        settle_operations, seconds=settings.OPERATION_SETTLE_INTERVAL_SECONDS, force=force
    )
