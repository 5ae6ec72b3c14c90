"""What the admin's start page shows a person: the main pages with their numbers, the last sync,
and what needs attention, each only where the person may see it. A fixed number of queries
(at most one per part), whatever the amount of data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q
from django.tasks import TaskResultStatus
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from contacts.models import Audience
from journal.models import Operation
from labels.models import LabelJob
from labelsite import words
from labelsite.views import has_permissions
from sync.models import SyncRun
from wixcache.models import Contact, Label

# A change still planned or sent after this long is worth a look (the worker settles it).
OPEN_OPERATION_AFTER = timedelta(minutes=5)
# Failed jobs and tasks are mentioned for this long after they ended.
RECENT_FAILURES = timedelta(days=1)
JOBS_SHOWN = 5

# The main pages lead the index; the admin's other models follow, smaller. (app, model)
MAIN_MODELS = {("labels", "Label"), ("contacts", "Contact"), ("contacts", "Audience")}
MAIN_MODELS |= {("journal", "Operation")}


@dataclass(frozen=True)
class MainPage:
    name: str
    url: str
    number: str  # "40 labels", or "" where the page has no one number
    what: str


@dataclass(frozen=True)
class Attention:
    text: str
    url: str
    link_text: str
    level: str = "warning"  # or "error"


@dataclass(frozen=True)
class Dashboard:
    pages: list[MainPage] = field(default_factory=list)
    attention: list[Attention] = field(default_factory=list)
    sees_sync: bool = False
    last_run: SyncRun | None = None
    can_run_sync: bool = False


def dashboard_for(user) -> Dashboard:
    now = timezone.now()
    last_run = None
    sees_sync = has_permissions(user, "sync.view_syncrun")
    if sees_sync:
        last_run = SyncRun.objects.select_related("requested_by").first()
    return Dashboard(
        pages=_main_pages(user),
        attention=[
            *_sync_attention(last_run, user),
            *_job_attention(user, now),
            *_operation_attention(user, now),
            *_task_attention(user, now),
        ],
        sees_sync=sees_sync,
        last_run=last_run,
        can_run_sync=has_permissions(user, "sync.run_sync"),
    )


def housekeeping_apps(app_list: list[dict]) -> list[dict]:
    """The admin's app list without the main pages (and without apps left empty)."""
    kept = []
    for app in app_list:
        models = [
            model
            for model in app["models"]
            if (app["app_label"], model["object_name"]) not in MAIN_MODELS
        ]
        if models:
            kept.append({**app, "models": models})
    return kept


# The main pages, in order: who may open one, its name and page, what it counts, what it is for.
MAIN_PAGES = [
    (
        ("labels.view_label", "labels.change_label"),
        "Labels",
        "admin:labels_label_changelist",
        (Label, "label"),
        "Create, rename, merge and delete the site's labels.",
    ),
    (
        ("contacts.view_contact",),
        "Contacts",
        "admin:contacts_contact_changelist",
        (Contact, "contact"),
        "Find contacts by their labels, label them in bulk, export them.",
    ),
    (
        ("contacts.view_audience",),
        "Audiences",
        "admin:contacts_audience_changelist",
        (Audience, "saved audience"),
        "Audiences people saved from the contacts page.",
    ),
    (
        ("journal.view_operation",),
        "History",
        "admin:journal_operation_changelist",
        None,
        "Every change: who made it, when, and how it ended.",
    ),
]


def _main_pages(user) -> list[MainPage]:
    pages = []
    for permissions, name, url_name, counted, what in MAIN_PAGES:
        if has_permissions(user, permissions):
            number = words.counted(counted[0].objects.count(), counted[1]) if counted else ""
            pages.append(MainPage(name, reverse(url_name), number, what))
    return pages


def _sync_attention(run: SyncRun | None, user) -> list[Attention]:
    # Only the newest run can wait: a later run replaces a waiting one.
    if run is None or run.status != SyncRun.Status.WAITING:
        return []
    who = (
        "Open it to confirm the deletion or look again."
        if has_permissions(user, "sync.run_sync")
        else "A label manager can confirm it."
    )
    gone = words.counted(run.deletions.count(), "contact")
    return [
        Attention(
            f"A full sync would delete {gone} that Wix no longer has. It stopped before "
            f"deleting anything and waits for a person. {who}",
            reverse("admin:sync_syncrun_change", args=[run.pk]),
            f"Sync #{run.pk}",
        )
    ]


def _job_attention(user, now: datetime) -> list[Attention]:
    if not has_permissions(user, "labels.view_labeljob"):
        return []
    failed = (LabelJob.Status.FAILED, LabelJob.Status.PARTIAL)
    jobs = LabelJob.objects.filter(
        Q(status=LabelJob.Status.STUCK)
        | Q(status__in=failed, finished_at__gte=now - RECENT_FAILURES)
    ).only("kind", "status", "description", "created_at", "finished_at", "total", "failed")
    items = []
    for job in jobs[:JOBS_SHOWN]:
        url = reverse("admin:labels_labeljob_change", args=[job.pk])
        if job.status == LabelJob.Status.STUCK:
            text = (
                f"{job.description}: stuck in Wix (started {words.ago(job.created_at, now)}). "
                "Open it to look again."
            )
        elif job.status == LabelJob.Status.PARTIAL:
            text = (
                f"{job.description}: ended {words.ago(job.finished_at, now)} with "
                f"{words.counted(job.failed, 'contact')} of {job.total:,} failed. "
                "Open it to retry them."
            )
        else:
            text = f"{job.description}: failed {words.ago(job.finished_at, now)}."
        level = "error" if job.status == LabelJob.Status.FAILED else "warning"
        items.append(Attention(text, url, str(job), level))
    return items


def _operation_attention(user, now: datetime) -> list[Attention]:
    if not has_permissions(user, "journal.view_operation"):
        return []
    found = Operation.objects.filter(
        state__in=Operation.OPEN_STATES, created_at__lt=now - OPEN_OPERATION_AFTER
    ).aggregate(
        open=Count("pk"),
        sent=Count("pk", filter=Q(state=Operation.State.SENT)),
        oldest=Min("created_at"),
    )
    if not found["open"]:
        return []
    changes = words.counted(found["open"], "change")
    verb = "is" if found["open"] == 1 else "are"
    state = Operation.State.SENT if found["sent"] else Operation.State.PLANNED
    return [
        Attention(
            f"{changes} started more than {OPEN_OPERATION_AFTER.seconds // 60} minutes ago "
            f"{verb} not finished (the oldest {words.ago(found['oldest'], now)}). The "
            "background worker settles such changes with Wix; if this stays, check that the "
            "worker is running.",
            f"{reverse('admin:journal_operation_changelist')}?state={state}",
            "Unfinished changes",
        )
    ]


def _task_attention(user, now: datetime) -> list[Attention]:
    if not has_permissions(user, "django_tasks_database.view_dbtaskresult"):
        return []
    failed = DBTaskResult.objects.filter(
        status=TaskResultStatus.FAILED, finished_at__gte=now - RECENT_FAILURES
    ).count()
    if not failed:
        return []
    url = reverse("admin:django_tasks_database_dbtaskresult_changelist")
    return [
        Attention(
            f"{words.counted(failed, 'background task')} failed in the last day.",
            f"{url}?status__exact={TaskResultStatus.FAILED}",
            "Failed tasks",
            "error",
        )
    ]
