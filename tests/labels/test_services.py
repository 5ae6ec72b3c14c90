"""Services, selectors, the sync's history entries and the roles command."""

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import Group
from django.core.management import call_command

from labels.history import SYNC_USERNAME
from labels.selectors import label_list, label_near_duplicates
from labels.services import (
    LabelError,
    LabelReadOnly,
    LabelStale,
    label_create,
    label_delete,
    label_rename,
)
from labelsite.wix import WixClient
from sync.service import labels_pull
from tests.fixtures.sandbox_data import wix_label
from wixcache.models import Label

pytestmark = pytest.mark.django_db


def test_near_duplicates_ignore_case_and_spacing_but_not_exact_matches(db):
    Label.objects.bulk_create(
        [
            Label(key="custom.vip", display_name="VIP", namespace="custom"),
            Label(key="custom.big-spenders", display_name="Big  Spenders", namespace="custom"),
        ]
    )
    assert [lb.key for lb in label_near_duplicates(display_name="vip")] == ["custom.vip"]
    assert [lb.key for lb in label_near_duplicates(display_name="big spenders")] == [
        "custom.big-spenders"
    ]
    assert label_near_duplicates(display_name="VIP") == []
    assert label_near_duplicates(display_name="VIPs") == []


def test_label_list_counts_contacts_in_one_query(synced, django_assert_num_queries):
    wix = synced()
    with django_assert_num_queries(1):
        counts = {lb.key: lb.contact_count for lb in label_list(order="-contacts")}
    assert counts["custom.vip"] == sum("custom.vip" in c["labelKeys"] for c in wix["contacts"])


def test_services_refuse_system_labels_before_calling_wix(synced, sandbox, manager):
    synced()
    customers = Label.objects.get(key="contacts.customers")
    with pytest.raises(LabelReadOnly):
        label_rename(label=customers, display_name="X", expected_name="Customers", user=manager)
    with pytest.raises(LabelReadOnly):
        label_delete(label=customers, expected_name="Customers", user=manager)
    assert wix_label(sandbox, "contacts.customers")["displayName"] == "Customers"
    assert Label.objects.filter(key="contacts.customers", display_name="Customers").exists()


@pytest.mark.parametrize("name", ["", "   ", "n" * 181])
def test_label_create_checks_the_name_itself(wix_settings, manager, name):
    with pytest.raises(LabelError):
        label_create(display_name=name, user=manager)
    assert not Label.objects.exists()


def test_sync_writes_history_under_the_wix_sync_user(synced, sandbox, sync_client):
    synced()
    vip = Label.objects.get(key="custom.vip")
    added = LogEntry.objects.filter(object_id=str(vip.pk), action_flag=ADDITION).get()
    assert added.user.username == SYNC_USERNAME
    assert not added.user.is_active
    assert not added.user.has_usable_password()

    sandbox.api("PATCH", "/contacts/v4/labels/custom.vip", json={"label": {"displayName": "Gold"}})
    sandbox.api("DELETE", "/contacts/v4/labels/custom.lead")
    lead_pk = Label.objects.get(key="custom.lead").pk
    labels_pull(client=sync_client)
    renamed = LogEntry.objects.filter(object_id=str(vip.pk), action_flag=CHANGE).get()
    assert renamed.change_message == "Renamed in Wix from “VIP” to “Gold”."
    deleted = LogEntry.objects.filter(object_id=str(lead_pk), action_flag=DELETION).get()
    assert deleted.user.username == SYNC_USERNAME

    count = LogEntry.objects.count()
    labels_pull(client=sync_client)
    assert LogEntry.objects.count() == count  # nothing changed, nothing logged


def test_setup_roles_is_idempotent(db):
    call_command("setup_roles", verbosity=0)
    call_command("setup_roles", verbosity=0)
    marketing = set(
        Group.objects.get(name="Marketing").permissions.values_list("codename", flat=True)
    )
    managers = set(
        Group.objects.get(name="Label managers").permissions.values_list("codename", flat=True)
    )
    assert Group.objects.filter(name__in=["Marketing", "Label managers"]).count() == 2
    assert {"view_label", "add_label", "view_contact", "label_contacts", "export_contacts"} <= (
        marketing
    )
    assert {"view_audience", "add_audience", "view_syncrun"} <= marketing
    assert not {"change_label", "delete_label", "run_sync"} & marketing
    assert managers == marketing | {
        "change_label",
        "delete_label",
        "run_sync",
        "export_operation",
        "change_others_audience",
    }


def test_a_rename_racing_a_delete_here_says_so_instead_of_failing(
    synced, sandbox, manager, monkeypatch
):
    synced()
    label = Label.objects.filter(label_type=Label.Type.USER_DEFINED).first()
    real_rename = WixClient.rename_label

    def rename_then_someone_deletes_it(self, key, display_name):
        data = real_rename(self, key, display_name)
        Label.objects.filter(key=key).delete()  # another person's delete lands just now
        return data

    monkeypatch.setattr(WixClient, "rename_label", rename_then_someone_deletes_it)
    with pytest.raises(LabelStale, match="was deleted while you were renaming it") as stale:
        label_rename(
            label=label, display_name="Renamed", expected_name=label.display_name, user=manager
        )
    assert stale.value.label is None
    assert not Label.objects.filter(key=label.key).exists()
