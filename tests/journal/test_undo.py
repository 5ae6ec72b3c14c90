"""Undo through the journal, at the service level against the sandbox: exactly what a change
did is reversed, by operation id and label key (never by name), once, within the window, and
the undo can be undone again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import Audience
from contacts.segments import SegmentRules
from contacts.selectors import contact_count_for_segment
from contacts.services import contact_label_remove, contacts_label_bulk_start
from journal.models import Operation
from journal.undo import UndoRefused, operation_undo
from labels.models import LabelDeletion
from labels.services import label_create, label_delete, label_deletion_operation
from tests.fixtures.cache import assert_cache_equals_wix
from tests.fixtures.sandbox_data import wix_contacts_with
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db


def _label_with_contacts(index: int = 0) -> Label:
    labels = Label.objects.filter(label_type=Label.Type.USER_DEFINED, contacts__isnull=False)
    return labels.distinct().order_by("key")[index]


def _holders(label: Label) -> set[str]:
    return set(label.contacts.values_list("wix_id", flat=True))


def test_delete_then_undo_mends_the_saved_audiences_that_used_the_label(
    synced, sandbox, manager, run_label_jobs
):
    synced()
    label = _label_with_contacts()
    audience = Audience.objects.create(
        name="Board", rules=SegmentRules(all_of=(label.key,)).as_json(), created_by=manager
    )
    before = contact_count_for_segment(rules=SegmentRules(all_of=(label.key,)))
    assert before > 0

    deletion = label_delete(label=label, expected_name=label.display_name, user=manager)
    audience.refresh_from_db()
    gone = SegmentRules.from_json(audience.rules)
    assert contact_count_for_segment(rules=gone) == 0  # nobody, never everyone

    undo = operation_undo(op_id=deletion.operation_id, user=manager)
    run_label_jobs()
    deletion.refresh_from_db()
    audience.refresh_from_db()
    assert deletion.restored_key != label.key
    assert audience.rules["all_of"] == [deletion.restored_key]
    assert contact_count_for_segment(rules=SegmentRules.from_json(audience.rules)) == before
    undo.refresh_from_db()
    assert undo.state == Operation.State.DONE
    assert Operation.objects.get(pk=deletion.operation_id).state == Operation.State.REVERSED
    assert_cache_equals_wix(sandbox, revisions=False)


def test_undo_of_a_bulk_change_reverses_exactly_what_each_contact_gained_and_lost(
    synced, sandbox, manager, run_label_jobs
):
    synced(contacts=60, labels=6)
    add, remove = _label_with_contacts(0), _label_with_contacts(1)
    had_add, had_remove = _holders(add), _holders(remove)
    everyone = SegmentRules()
    job = contacts_label_bulk_start(rules=everyone, add=[add], remove=[remove], user=manager)
    run_label_jobs()
    assert wix_contacts_with(sandbox, add.key) == set(
        Contact.objects.values_list("wix_id", flat=True)
    )
    assert wix_contacts_with(sandbox, remove.key) == set()

    operation_undo(op_id=job.operation_id, user=manager)
    run_label_jobs()
    # Those that had `add` before keep it; those that had `remove` get it back; nobody else.
    assert wix_contacts_with(sandbox, add.key) == had_add
    assert wix_contacts_with(sandbox, remove.key) == had_remove
    assert_cache_equals_wix(sandbox, revisions=False)


def test_an_undo_can_be_undone_again(synced, sandbox, manager, run_label_jobs):
    synced(contacts=30, labels=4)
    label = _label_with_contacts()
    gained = set(Contact.objects.values_list("wix_id", flat=True)) - _holders(label)
    job = contacts_label_bulk_start(rules=SegmentRules(), add=[label], user=manager)
    run_label_jobs()
    undo = operation_undo(op_id=job.operation_id, user=manager)
    run_label_jobs()
    assert not gained & wix_contacts_with(sandbox, label.key)

    operation_undo(op_id=undo.pk, user=manager)
    run_label_jobs()
    assert gained <= wix_contacts_with(sandbox, label.key)
    assert Operation.objects.get(pk=undo.pk).state == Operation.State.REVERSED


def test_undo_is_once_and_only_within_the_window(synced, sandbox, manager, run_label_jobs):
    synced(contacts=20, labels=4)
    membership = ContactLabel.objects.select_related("contact", "label").first()
    op = contact_label_remove(contact=membership.contact, label=membership.label, user=manager)
    operation_undo(op_id=op.pk, user=manager)
    assert membership.contact.wix_id in wix_contacts_with(sandbox, membership.label.key)
    with pytest.raises(UndoRefused, match="already been undone"):
        operation_undo(op_id=op.pk, user=manager)

    other = (
        ContactLabel.objects.exclude(contact=membership.contact)
        .select_related("contact", "label")
        .first()
    )
    late = contact_label_remove(contact=other.contact, label=other.label, user=manager)
    Operation.objects.filter(pk=late.pk).update(undo_until=timezone.now() - timedelta(seconds=1))
    with pytest.raises(UndoRefused, match="too late"):
        operation_undo(op_id=late.pk, user=manager)
    assert other.contact.wix_id not in wix_contacts_with(sandbox, other.label.key)


def test_restore_never_hands_the_contacts_to_another_label_of_the_same_name(
    synced, sandbox, manager
):
    synced(contacts=20, labels=4)
    label = _label_with_contacts()
    name, holders = label.display_name, _holders(label)
    deletion = label_delete(label=label, expected_name=name, user=manager)
    impostor, _created = label_create(display_name=name, user=manager)

    with pytest.raises(UndoRefused, match="not the deleted one"):
        operation_undo(op_id=deletion.operation_id, user=manager)
    assert wix_contacts_with(sandbox, impostor.key) == set()
    assert holders  # they had the deleted label; nobody got the impostor
    deletion.refresh_from_db()
    assert deletion.restored_at is None
    # The undo is still offered: rename the other label, then undo.
    assert Operation.objects.get(pk=deletion.operation_id).state == Operation.State.DONE


def test_a_deletion_recorded_before_the_journal_can_still_be_undone(
    synced, sandbox, manager, run_label_jobs
):
    synced(contacts=20, labels=4)
    label = _label_with_contacts()
    holders = _holders(label)
    deletion = label_delete(label=label, expected_name=label.display_name, user=manager)
    # As an older labelsite left it: no operation.
    Operation.objects.filter(pk=deletion.operation_id).delete()
    legacy = LabelDeletion.objects.get(pk=deletion.pk)
    assert legacy.operation_id is None

    op = label_deletion_operation(legacy)
    operation_undo(op_id=op.pk, user=manager)
    run_label_jobs()
    legacy.refresh_from_db()
    assert wix_contacts_with(sandbox, legacy.restored_key) == holders


def test_an_undo_that_died_before_asking_wix_leaves_the_undo_offered(
    synced, sandbox, manager, sync_client
):
    """A crash between writing the undo down and asking Wix: settling fails the undo and the
    change can still be undone, in its own window."""
    from journal.settle import operations_settle
    from journal.undo import undo_offered

    synced(contacts=20, labels=4)
    label = _label_with_contacts()
    deletion = label_delete(label=label, expected_name=label.display_name, user=manager)
    original = Operation.objects.get(pk=deletion.operation_id)
    window = original.undo_until
    Operation.objects.create(
        kind=Operation.Kind.UNDO,
        state=Operation.State.SENT,
        user=manager,
        summary=f"Undo: {original.summary}",
        args={"steps": original.reverse, "steps_running": True},
        reverses=original,
        process="",  # its process died
    )

    operations_settle(client=sync_client)
    original.refresh_from_db()
    assert original.state == Operation.State.DONE
    assert original.undo_until == window
    assert undo_offered(original)
    assert operation_undo(op_id=original.pk, user=manager).state != Operation.State.FAILED


def test_a_restore_wix_made_without_answering_is_finished_by_settling(
    synced, sandbox, manager, sync_client, settings, run_label_jobs
):
    """Wix makes the label again but its answer comes too late: the undo stays open (it is not
    a refusal), and settling finds the label, gives it back to its contacts and ends the undo."""
    from journal.settle import operations_settle

    synced(contacts=20, labels=4)
    label = _label_with_contacts()
    holders = _holders(label)
    deletion = label_delete(label=label, expected_name=label.display_name, user=manager)
    settings.WIX_READ_TIMEOUT = 0.2
    settings.WIX_MAX_RETRIES = 0
    sandbox.set_faults("late_answers=600ms")

    with pytest.raises(UndoRefused, match="not known yet"):
        operation_undo(op_id=deletion.operation_id, user=manager)
    sandbox.set_faults("")
    undo = Operation.objects.get(kind=Operation.Kind.UNDO)
    assert undo.state == Operation.State.SENT

    operations_settle(client=sync_client)
    run_label_jobs()
    undo.refresh_from_db()
    deletion.refresh_from_db()
    assert undo.state == Operation.State.DONE
    assert wix_contacts_with(sandbox, deletion.restored_key) == holders
    assert Operation.objects.get(pk=deletion.operation_id).state == Operation.State.REVERSED


def test_a_partly_done_undo_can_be_tried_again_for_the_rest(
    synced, sandbox, manager, run_label_jobs, sync_client
):
    """An undo of a merge restores one source; for the other, Wix finds a label of the same
    name that the cache does not know yet: the undo stops there, partly done, and once that
    label is renamed, Undo does the rest."""
    from labels.services import label_merge, label_rename

    synced(contacts=40, labels=6)
    target, first, second = (_label_with_contacts(i) for i in range(3))
    first_holders, second_holders = _holders(first), _holders(second)
    job = label_merge(sources=[first, second], target=target, user=manager)
    run_label_jobs()
    impostor, _ = sync_client.find_or_create_label(second.display_name)  # made in Wix only
    merge = Operation.objects.get(pk=job.operation_id)

    with pytest.raises(UndoRefused, match="not the deleted one"):
        operation_undo(op_id=merge.pk, user=manager)
    run_label_jobs()
    partly = Operation.objects.get(kind=Operation.Kind.UNDO)
    assert partly.partial
    assert wix_contacts_with(sandbox, LabelDeletion.objects.get(key=first.key).restored_key) == (
        first_holders
    )
    merge.refresh_from_db()
    assert merge.state == Operation.State.DONE  # the rest is still offered
    assert [step["type"] for step in merge.reverse] == ["restore", "labels"]

    cached = Label.objects.get(key=impostor.key)  # the refusal stored what Wix has
    label_rename(
        label=cached, display_name="Impostor", expected_name=cached.display_name, user=manager
    )
    operation_undo(op_id=merge.pk, user=manager)
    run_label_jobs()
    restored = LabelDeletion.objects.get(key=second.key).restored_key
    assert wix_contacts_with(sandbox, restored) == second_holders
    merge.refresh_from_db()
    assert merge.state == Operation.State.REVERSED


def test_undo_of_a_contact_change_whose_label_is_gone_says_so_plainly(synced, sandbox, manager):
    synced(contacts=20, labels=4)
    membership = ContactLabel.objects.select_related("contact", "label").first()
    label = membership.label
    op = contact_label_remove(contact=membership.contact, label=label, user=manager)
    label_delete(
        label=Label.objects.get(pk=label.pk), expected_name=label.display_name, user=manager
    )

    with pytest.raises(UndoRefused, match=r"no longer exists.*undo its deletion first"):
        operation_undo(op_id=op.pk, user=manager)
    assert Operation.objects.get(pk=op.pk).state == Operation.State.DONE  # still offered
