"""A small synced world (sandbox and cache), the five roles, and snapshots of what must stay.

The world is built once per test module (per xdist worker), not once per test:

* the cache side is written inside a transaction that stays open for the module; pytest-django
  runs each test in a savepoint within it and rolls the test back, so every test starts from the
  world as built. The module's transaction is rolled back at its end, so tests of other modules
  (the soak, which needs committed data) find the database as empty as ever;
* the sandbox side is seeded once; before each test the sandbox is compared with the state the
  world was built from (a full dump: every label, contact, revision and label membership), and
  re-seeded only if something changed it. Seeding is deterministic (same ids, dates and
  revisions), so the re-seeded sandbox equals the cache again.

Each test gets its own copy of the `World` objects, so changing them in a test stays there.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone

from contacts.lists import PASTED, contact_list_read, pasted_rows
from contacts.models import Audience, ContactList
from journal.models import Operation
from labels.models import LabelDeletion, LabelJob
from sync.models import SyncRun
from sync.service import sync_wix
from sync.tasks import run_sync
from tests.fixtures.users import make_user
from tests.fixtures.wix import sandbox_client
from wixcache.models import Contact, ContactLabel, Label

ROLES = ("anonymous", "staff", "marketing", "managers", "superuser")
SEED = {"contacts": 8, "labels": 3, "seed": 5}


@dataclass
class World:
    label: Label  # a user-defined label with contacts
    system: Label
    contact: Contact
    audience: Audience
    run: SyncRun
    job: LabelJob
    deletion: LabelDeletion
    contact_list: ContactList  # the superuser's, one entry found and one not
    contact_change: Operation  # a contact's label change, undone already
    task_id: str
    group: Group
    users: dict[str, User | None]

    def client(self, role: str, **kwargs) -> Client:
        client = Client(**kwargs)
        if self.users[role] is not None:
            client.force_login(self.users[role])
        return client


@pytest.fixture
def sandbox(request, sandbox_server):
    """The project's `sandbox`, except that for tests of the world it holds the world (put back
    by `world` when a test changed it) instead of being emptied for every test."""
    sandbox_server.neutral()
    if "world" not in request.fixturenames:
        sandbox_server.reset(contacts=0, labels=0)
    sandbox_server.reset_stats()
    return sandbox_server


def _build_world(sandbox_server) -> World:
    """Wix with a few labels and contacts, the cache equal to it, and one of every object."""
    with sandbox_client(sandbox_server) as client:
        sync_wix(kind="full", client=client)
    call_command("setup_roles", verbosity=0)
    users = {
        "anonymous": None,
        "staff": make_user("staff"),
        "marketing": make_user("marketing", groups=(Group.objects.get(name="Marketing"),)),
        "managers": make_user("manager", groups=(Group.objects.get(name="Label managers"),)),
        "superuser": make_user("root", superuser=True),
    }
    label = (
        Label.objects.filter(label_type=Label.Type.USER_DEFINED, contacts__isnull=False)
        .order_by("key")
        .first()
    )
    contact = ContactLabel.objects.filter(label=label).order_by("pk").first().contact
    audience = Audience.objects.create(
        name="Matrix audience", rules={"all_of": [label.key]}, created_by=users["superuser"]
    )
    # Operations undone already, so that a stray POST to their Undo changes nothing.
    bulk = Operation.objects.create(
        kind=Operation.Kind.BULK_LABELS,
        state=Operation.State.REVERSED,
        user=users["superuser"],
        summary="Add a label on ticked contacts",
        reverse=[{"type": "labels", "remove": [label.key], "contacts": [contact.wix_id]}],
    )
    contact_change = Operation.objects.create(
        kind=Operation.Kind.CONTACT_LABELS,
        state=Operation.State.REVERSED,
        user=users["superuser"],
        summary="Take a label from a contact",
        args={"type": "contact", "contact": contact.wix_id, "add": [], "remove": [label.key]},
        reverse=[{"type": "contact", "contact": contact.wix_id, "add": [label.key], "remove": []}],
    )
    job = LabelJob.objects.create(
        description="A finished job",
        status=LabelJob.Status.SUCCEEDED,
        requested_by=users["superuser"],
        add_keys=[label.key],
        contact_ids=[contact.wix_id],
        operation=bulk,
    )
    deletion = LabelDeletion.objects.create(
        display_name="Long gone",
        key="custom.long-gone",
        label_type=Label.Type.USER_DEFINED,
        contact_ids=[contact.wix_id],
        contact_count=1,
        deleted_by=users["superuser"],
        # Restored already, so that a stray POST to its undo changes nothing.
        restored_at=timezone.now(),
        restored_key="custom.long-gone-1",
    )
    contact_list = contact_list_read(
        pasted_rows(f"{contact.wix_id}\nnobody@example.com"),
        source=PASTED,
        every=True,
        user=users["superuser"],
    )
    task = run_sync.enqueue(SyncRun.objects.latest().pk)
    return World(
        label=label,
        system=Label.objects.filter(label_type=Label.Type.SYSTEM).order_by("key").first(),
        contact=contact,
        audience=audience,
        run=SyncRun.objects.latest(),
        job=job,
        deletion=deletion,
        contact_list=contact_list,
        contact_change=contact_change,
        task_id=str(task.id),
        group=Group.objects.get(name="Marketing"),
        users=users,
    )


@dataclass
class Built:
    world: World
    wix: dict  # the sandbox's dump when the world was built


@pytest.fixture(scope="module")
def built_world(django_db_setup, django_db_blocker, sandbox_server):
    """The world, built once per module in a transaction rolled back when the module ends."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            sandbox_server.neutral()
            sandbox_server.reset(**SEED)
            built = Built(world=_build_world(sandbox_server), wix=sandbox_server.dump())
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    yield built
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture
def world(built_world, db, sandbox, wix_settings) -> World:
    """The world as built: the cache by the rollback of the last test, Wix re-seeded if the last
    test (or anything else) changed it. A copy, so a test may change its objects."""
    if sandbox.dump() != built_world.wix:
        sandbox.reset(**SEED)
        assert sandbox.dump() == built_world.wix, "seeding the sandbox is not deterministic"
        sandbox.reset_stats()
    return copy.deepcopy(built_world.world)


def _cache_state() -> dict:
    return {
        "labels": sorted(Label.objects.values_list("key", "display_name", "label_type")),
        "contacts": sorted(Contact.objects.values_list("wix_id", "revision")),
        "memberships": sorted(ContactLabel.objects.values_list("contact_id", "label_id")),
        "jobs": LabelJob.objects.count(),
        "deletions": sorted(LabelDeletion.objects.values_list("pk", "restored_at")),
        "runs": SyncRun.objects.count(),
        "audiences": sorted(Audience.objects.values_list("pk", "name", "description", "rules")),
    }


@pytest.fixture
def cache_state():
    """`cache_state()`: what a refused request must leave as it was, the cache and the records
    of changes, as read from the database now."""
    return _cache_state


@pytest.fixture
def wix_state(sandbox):
    """`wix_state()`: every label and contact (with revision and labels) the sandbox holds now."""

    def state() -> dict:
        dump = sandbox.dump()
        return {
            "labels": sorted((lb["key"], lb["displayName"]) for lb in dump["labels"]),
            "contacts": sorted(
                (c["id"], c.get("revision"), tuple(sorted(c.get("labelKeys", []))))
                for c in dump["contacts"]
            ),
        }

    return state
