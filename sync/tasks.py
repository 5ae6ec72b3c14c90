"""Background work, run by `manage.py db_worker` through django-tasks-db."""

from django.conf import settings
from django.tasks import task

from labelsite.scheduling import queue_next_round
from sync.models import SyncRun
from sync.service import (
    SyncAlreadyRunning,
    SyncFailed,
    labels_pull,
    sync_run_execute,
    sync_run_start,
    sync_wix,
)
from wixcache.budget import site_client
from wixcache.store import contacts_store


def sync_request(*, kind: str, requested_by, allow_mass_delete: int = 0) -> SyncRun:
    """A person's "Sync now": the run is made at once (so a second click is refused while it
    lives) and carried out by the background worker."""
    run = sync_run_start(
        kind=kind, requested_by=requested_by, claim=False, allow_mass_delete=allow_mass_delete
    )
    run_sync.enqueue(run.pk)
    return run


@task
def run_sync(run_id: int) -> str:
    """Carry out a run that a person started with "Sync now"."""
    run = SyncRun.objects.get(pk=run_id)
    if run.status != SyncRun.Status.RUNNING:
        return f"Sync #{run_id} was already {run.get_status_display().lower()}."
    with site_client(interactive=False) as client:
        try:
            sync_run_execute(run, client=client)
        except SyncFailed as error:
            return f"Sync #{run_id} failed: {error}"
    return f"Sync #{run_id} finished."


@task
def periodic_sync() -> str:
    """An incremental sync, then the next one queued SYNC_INTERVAL_SECONDS later."""
    try:
        run = sync_wix(kind=SyncRun.Kind.INCREMENTAL)
        outcome = f"Sync #{run.pk} finished."
    except (SyncAlreadyRunning, SyncFailed) as error:
        outcome = str(error)
    finally:
        periodic_sync_schedule(force=True)
    return outcome


def periodic_sync_schedule(*, force: bool = False) -> bool:
    """Queue the next periodic sync unless one is queued already (or periodic syncs are off)."""
    return queue_next_round(periodic_sync, seconds=settings.SYNC_INTERVAL_SECONDS, force=force)


@task
def labels_pull_for_contacts(contact_ids: list[str]) -> str:
    """Pull labels (a webhook met a label key the cache does not know), then store these
    contacts again as Wix has them now, with their new labels."""
    with site_client(interactive=False) as client:
        pulled = labels_pull(client=client)
        found = client.find_contacts(contact_ids)
    contacts_store([contact for contact in found.values() if contact is not None], again=True)
    return f"{len(pulled.created)} labels found, {len(found)} contacts stored again."
