"""The move of the cache to `wixcache` and of the sync to `sync` changed state only: a database
from before the move keeps its tables, rows and people's permissions."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from sync.models import SyncRun, WebhookEvent
from wixcache.models import Contact, ContactLabel, Label

BEFORE_THE_MOVE = [("labels", "0003_label_key_length"), ("contacts", "0003_segment_version")]
TABLES = {
    "labels_label",
    "contacts_contact",
    "contacts_contactlabel",
    "contacts_syncrun",
    "contacts_webhookevent",
}
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)  # a fresh loader sees what is applied now


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def fill_the_old_database(apps) -> None:
    """Rows as a database from before the move held them, written through its models."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    # Before the move no `sync` app existed: its permission belonged to `contacts`.
    ContentType.objects.filter(app_label="sync").delete()
    syncrun_type, _ = ContentType.objects.get_or_create(app_label="contacts", model="syncrun")
    run_sync, _ = Permission.objects.get_or_create(
        content_type=syncrun_type,
        codename="run_sync",
        defaults={"name": "Can start a sync with Wix"},
    )
    apps.get_model("auth", "Group").objects.create(name="Syncers").permissions.add(run_sync)

    label = apps.get_model("labels", "Label").objects.create(
        key="custom.vip", display_name="VIP", namespace="custom"
    )
    contact = apps.get_model("contacts", "Contact").objects.create(
        wix_id="c1", revision=3, first_name="Ada", remote_created_at=WHEN, remote_updated_at=WHEN
    )
    apps.get_model("contacts", "ContactLabel").objects.create(contact=contact, label=label)
    apps.get_model("contacts", "SyncRun").objects.create(
        kind="full", status="succeeded", contacts_created=1, checkpoint={"pages": 1}
    )


@pytest.mark.django_db(transaction=True)
def test_the_move_to_wixcache_and_sync_keeps_rows_tables_and_permissions():
    # Back to before the move: `wixcache` and `sync` did not exist yet either.
    old = migrate([*BEFORE_THE_MOVE, ("wixcache", None), ("sync", None)])
    try:
        assert set(connection.introspection.table_names()) >= TABLES
        django_apps = [n for n in latest() if n[0] in ("auth", "contenttypes")]
        state = old.loader.project_state([*BEFORE_THE_MOVE, *django_apps], at_end=True)
        fill_the_old_database(state.apps)
        migrate(latest())
    finally:
        if MigrationExecutor(connection).migration_plan(latest()):
            migrate(latest())  # leave the database as every other test expects it
        ContentType.objects.clear_cache()

    label = Label.objects.get()
    assert (label.key, label.display_name) == ("custom.vip", "VIP")
    contact = Contact.objects.get()
    assert (contact.wix_id, contact.revision, contact.first_name) == ("c1", 3, "Ada")
    assert list(ContactLabel.objects.values_list("contact_id", "label_id")) == [
        (contact.pk, label.pk)
    ]
    assert list(contact.labels.all()) == [label]
    run = SyncRun.objects.get()
    assert (run.kind, run.status, run.contacts_created, run.checkpoint) == (
        "full",
        "succeeded",
        1,
        {"pages": 1},
    )
    assert list(
        Group.objects.get(name="Syncers").permissions.values_list(
            "content_type__app_label", "codename"
        )
    ) == [("sync", "run_sync")]
    assert not ContentType.objects.filter(app_label="contacts", model="syncrun").exists()
    moved = (Label, Contact, ContactLabel, SyncRun, WebhookEvent)
    assert {model._meta.db_table for model in moved} == TABLES
    assert set(connection.introspection.table_names()) >= TABLES
