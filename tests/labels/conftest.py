import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command

from sync.service import sync_wix
from wixcache.models import Label


@pytest.fixture
def roles(db):
    call_command("setup_roles", verbosity=0)
    return {group.name: group for group in Group.objects.all()}


def _staff(username: str, group: Group) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.groups.add(group)
    return user


@pytest.fixture
def manager(roles):
    """A "Label managers" member: may create, rename, delete, merge and undo."""
    return _staff("manager", roles["Label managers"])


@pytest.fixture
def marketer(roles):
    """A "Marketing" member: may see and create labels, nothing more."""
    return _staff("marketer", roles["Marketing"])


@pytest.fixture
def synced(sandbox, sync_client, wix_settings):
    """The sandbox with seeded labels and contacts, and the cache equal to it."""

    def fill(*, contacts: int = 40, labels: int = 6, seed: int = 7) -> dict:
        sandbox.reset(contacts=contacts, labels=labels, seed=seed)
        sync_wix(kind="full", client=sync_client)
        return sandbox.dump()

    return fill


def wix_label(sandbox, key: str) -> dict | None:
    """The label as Wix has it now, or None."""
    return next((lb for lb in sandbox.dump()["labels"] if lb["key"] == key), None)


def wix_contacts_with(sandbox, key: str) -> set[str]:
    return {c["id"] for c in sandbox.dump()["contacts"] if key in c.get("labelKeys", [])}


def busiest_user_label() -> Label:
    """The user label on the most contacts (ties: by name)."""
    from django.db.models import Count

    return (
        Label.objects.filter(label_type=Label.Type.USER_DEFINED)
        .annotate(n=Count("contacts"))
        .order_by("-n", "display_name")
        .first()
    )


@pytest.fixture
def run_label_jobs(sync_client):
    """Carry every queued label job to its end in this process, as the worker would."""
    from labels.bulk import label_job_execute
    from labels.models import LabelJob

    def run() -> list[LabelJob]:
        jobs = list(LabelJob.objects.filter(status=LabelJob.Status.QUEUED).order_by("pk"))
        return [label_job_execute(job, client=sync_client) for job in jobs]

    return run
