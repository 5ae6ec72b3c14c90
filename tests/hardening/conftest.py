"""A small synced world (sandbox and cache), the five roles, and snapshots of what must stay."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from contacts.models import Audience
from labels.models import LabelDeletion, LabelJob
from sync.models import SyncRun
from sync.service import sync_wix
from sync.tasks import run_sync
from wixcache.models import Contact, ContactLabel, Label

ROLES = ("anonymous", "staff", "marketing", "managers", "superuser")
HX = {"HX-Request": "true"}


@dataclass
class World:
    label: Label  # a user-defined label with contacts
    system: Label
    contact: Contact
    audience: Audience
    run: SyncRun
    job: LabelJob
    deletion: LabelDeletion
    task_id: str
    group: Group
    users: dict[str, User | None]

    def client(self, role: str, **kwargs) -> Client:
        client = Client(**kwargs)
        if self.users[role] is not None:
            client.force_login(self.users[role])
        return client


def _user(username: str, **flags) -> User:
    user = User(username=username, is_staff=True, **flags)
    user.set_unusable_password()
    user.save()
    return user


@pytest.fixture
def world(db, sandbox, sync_client, wix_settings) -> World:
    """Wix with a few labels and contacts, the cache equal to it, and one of every object."""
    sandbox.reset(contacts=8, labels=3, seed=5)
    sync_wix(kind="full", client=sync_client)
    call_command("setup_roles", verbosity=0)
    users = {
        "anonymous": None,
        "staff": _user("staff"),
        "marketing": _user("marketing"),
        "managers": _user("manager"),
        "superuser": _user("root", is_superuser=True),
    }
    users["marketing"].groups.add(Group.objects.get(name="Marketing"))
    users["managers"].groups.add(Group.objects.get(name="Label managers"))
    label = (
        Label.objects.filter(label_type=Label.Type.USER_DEFINED, contacts__isnull=False)
        .order_by("key")
        .first()
    )
    contact = ContactLabel.objects.filter(label=label).order_by("pk").first().contact
    audience = Audience.objects.create(
        name="Matrix audience", rules={"all_of": [label.key]}, created_by=users["superuser"]
    )
    job = LabelJob.objects.create(
        description="A finished job",
        status=LabelJob.Status.SUCCEEDED,
        requested_by=users["superuser"],
        add_keys=[label.key],
        contact_ids=[contact.wix_id],
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
    task = run_sync.enqueue(SyncRun.objects.latest().pk)
    return World(
        label=label,
        system=Label.objects.filter(label_type=Label.Type.SYSTEM).order_by("key").first(),
        contact=contact,
        audience=audience,
        run=SyncRun.objects.latest(),
        job=job,
        deletion=deletion,
        task_id=str(task.id),
        group=Group.objects.get(name="Marketing"),
        users=users,
    )


def cache_state() -> dict:
    """What a refused request must leave as it was: the cache and the records of changes."""
    return {
        "labels": sorted(Label.objects.values_list("key", "display_name", "label_type")),
        "contacts": sorted(Contact.objects.values_list("wix_id", "revision")),
        "memberships": sorted(ContactLabel.objects.values_list("contact_id", "label_id")),
        "jobs": LabelJob.objects.count(),
        "deletions": sorted(LabelDeletion.objects.values_list("pk", "restored_at")),
        "runs": SyncRun.objects.count(),
        "audiences": sorted(Audience.objects.values_list("pk", "name", "description", "rules")),
    }


def wix_state(sandbox) -> dict:
    dump = sandbox.dump()
    return {
        "labels": sorted((lb["key"], lb["displayName"]) for lb in dump["labels"]),
        "contacts": sorted(
            (c["id"], c.get("revision"), tuple(sorted(c.get("labelKeys", []))))
            for c in dump["contacts"]
        ),
    }
