import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from sync.service import sync_wix
from tests.fixtures.users import make_user


@pytest.fixture
def roles(db):
    call_command("setup_roles", verbosity=0)
    return {group.name: group for group in Group.objects.all()}


@pytest.fixture
def manager(roles):
    """A "Label managers" member: may create, rename, delete, merge and undo."""
    return make_user("manager", groups=(roles["Label managers"],))


@pytest.fixture
def marketer(roles):
    """A "Marketing" member: may see and create labels, nothing more."""
    return make_user("marketer", groups=(roles["Marketing"],))


@pytest.fixture
def synced(sandbox, sync_client, wix_settings):
    """The sandbox with seeded labels and contacts, and the cache equal to it."""

    def fill(*, contacts: int = 40, labels: int = 6, seed: int = 7) -> dict:
        sandbox.reset(contacts=contacts, labels=labels, seed=seed)
        sync_wix(kind="full", client=sync_client)
        return sandbox.dump()

    return fill


@pytest.fixture
def run_label_jobs(sync_client):
    """Carry every queued label job to its end in this process, as the worker would."""
    from labels.bulk import label_job_execute
    from labels.models import LabelJob

    def run() -> list[LabelJob]:
        jobs = list(LabelJob.objects.filter(status=LabelJob.Status.QUEUED).order_by("pk"))
        return [label_job_execute(job, client=sync_client) for job in jobs]

    return run
