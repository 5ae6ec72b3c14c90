"""A sync run in plain words, for its page, its list and the start page."""

from django import template

from labelsite import words
from sync.models import SyncRun

register = template.Library()


@register.filter
def sync_outcome(run: SyncRun) -> str:
    """What a run did or does, in a sentence or two: "Contacts: 2,000 new, none changed, none
    deleted. Labels: 40 new, none changed, none deleted. 2,000 contacts read in 2 pages (5
    requests to Wix)."""
    if run.status == SyncRun.Status.RUNNING:
        if not run.pages and not run.checkpoint.get("worker"):
            return "Waiting for the background worker to pick it up…"
        if run.contacts_total:
            percent = run.progress_percent
            return (
                f"Running: {run.contacts_seen:,} of {words.counted(run.contacts_total, 'contact')}"
                f" read ({percent}%)."
            )
        return f"Running: {words.counted(run.contacts_seen, 'contact')} read so far."
    if run.status != SyncRun.Status.SUCCEEDED:
        return run.error or "No reason was recorded."
    read = f"{words.counted(run.contacts_seen, 'contact')} read"
    if run.kind == SyncRun.Kind.LABELS:
        read = "Labels read"
    contacts = words.changes(run.contacts_created, run.contacts_updated, run.contacts_deleted)
    labels = words.changes(run.labels_created, run.labels_updated, run.labels_deleted)
    return (
        f"Contacts: {contacts}. Labels: {labels}. {read} in {words.counted(run.pages, 'page')} "
        f"({words.counted(run.requests, 'request')} to Wix)."
    )
