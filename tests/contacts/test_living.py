"""Living labels against the sandbox: a label kept equal to its audience through a scripted day
of changes (in Wix then synced, by webhook, by hand, a label deleted and its deletion undone, a
pass cut short), each state checked over HTTP against what Wix holds."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from contacts import living as living_module
from contacts import rules as nested
from contacts.living import (
    LivingRefused,
    living_label_start,
    living_label_stop,
    living_labels_keep,
    living_status,
)
from contacts.models import Audience, AudienceSize, LivingLabel
from contacts.segments import SegmentRules
from contacts.services import audience_delete, audience_update, contacts_label_bulk_start
from contacts.tasks import keep_living_labels
from journal.models import Operation
from journal.undo import operation_undo
from labels.models import LabelDeletion, LabelJob
from labels.services import label_create, label_delete
from sync.service import sync_wix
from tests.fixtures.sandbox_data import wix_contacts_with
from tests.fixtures.users import HTMX, make_user
from tests.fixtures.webhooks import post_webhook, signed
from wixcache.models import ContactLabel, Label

pytestmark = pytest.mark.django_db(transaction=True)
CONTACTS_PATH = "/contacts/v4/contacts"


def wix_members(client, rule) -> set[str]:
    """The contacts Wix holds (read over HTTP, every field) that `rule(label keys, contact)`
    accepts: the audience, read from Wix itself rather than from the cache."""
    return {
        contact.id
        for page in client.walk_contacts()
        for contact in page.contacts
        if rule(set(contact.label_keys), contact)
    }


def converge(run_label_jobs, *, rounds: int = 6) -> list[dict]:
    """Passes and the jobs they queue, as the worker would run them, until a pass finds nothing
    to change."""
    passes = []
    for _ in range(rounds):
        counts = living_labels_keep(why="test")
        passes.append(counts)
        run_label_jobs()
        if not counts["changed"] and not counts["busy"]:
            return passes
    raise AssertionError(f"no rest after {rounds} passes: {passes}")


@pytest.fixture
def day(synced, manager, sync_client):
    data = synced(contacts=80, labels=6, seed=3)
    keys = sorted(lb["key"] for lb in data["labels"] if lb["labelType"] == "USER_DEFINED")
    a, b = keys[0], keys[1]
    tree = nested.from_document({"any": [{"label": a}, {"all": [{"label": b}, {"has": "email"}]}]})
    rules = SegmentRules(none_of=(keys[2],), tree=tree)
    audience = Audience.objects.create(name="Spring", rules=rules.as_json(), created_by=manager)
    label, _created = label_create(display_name="Spring (living)", user=manager)
    return audience, label, keys


def in_spring(keys):
    a, b, c = keys[:3]

    def rule(have: set[str], contact: dict) -> bool:
        return (a in have or (b in have and bool(contact.email))) and c not in have

    return rule


def test_a_living_label_stays_equal_to_its_audience_through_a_day(
    day, manager, sandbox, sync_client, run_label_jobs, client, webhook_key
):
    audience, label, keys = day
    living_label_start(audience=audience, label=label, user=manager)
    converge(run_label_jobs)
    want = wix_members(sync_client, in_spring(keys))
    assert want  # the audience is not empty: the check below could fail
    assert wix_contacts_with(sandbox, label.key) == want

    # Morning: changes in Wix, then the periodic sync.
    contacts = sorted(c["id"] for c in sandbox.dump()["contacts"])
    for contact in contacts[:4]:
        sandbox.api("POST", f"{CONTACTS_PATH}/{contact}/labels", json={"labelKeys": [keys[2]]})
    for contact in contacts[-4:]:
        sandbox.api("POST", f"{CONTACTS_PATH}/{contact}/labels", json={"labelKeys": [keys[0]]})
    sync_wix(kind="incremental", client=sync_client)
    converge(run_label_jobs)
    assert wix_contacts_with(sandbox, label.key) == wix_members(sync_client, in_spring(keys))

    # Late morning: a change told by webhook alone (no sync): the label follows it too.
    target = next(c for c in contacts if c in wix_contacts_with(sandbox, label.key))
    sandbox.api("POST", f"{CONTACTS_PATH}/{target}/labels", json={"labelKeys": [keys[2]]})
    entity = sandbox.api("GET", f"{CONTACTS_PATH}/{target}").json()["contact"]
    token = signed("wix.contacts.v4.contact_updated", target, slug="updated", entity=entity)
    assert post_webhook(client, token).status_code == 200
    converge(run_label_jobs)
    assert target not in wix_contacts_with(sandbox, label.key)  # it left the audience
    assert wix_contacts_with(sandbox, label.key) == wix_members(sync_client, in_spring(keys))

    # Noon: someone takes the living label from some of its contacts by hand; it comes back.
    holders = sorted(wix_contacts_with(sandbox, label.key))[:3]
    contacts_label_bulk_start(
        rules=SegmentRules(),
        remove=[Label.objects.get(key=label.key)],
        only_wix_ids=holders,
        user=manager,
    )
    run_label_jobs()
    assert not set(holders) & wix_contacts_with(sandbox, label.key)
    converge(run_label_jobs)
    assert wix_contacts_with(sandbox, label.key) == wix_members(sync_client, in_spring(keys))

    # Afternoon: a label the rules need is deleted: the living label waits, it does not empty.
    before = wix_contacts_with(sandbox, label.key)
    rule_label = Label.objects.get(key=keys[0])
    label_delete(label=rule_label, expected_name=rule_label.display_name, user=manager)
    run_label_jobs()
    passes = converge(run_label_jobs)
    assert passes[-1]["paused"] == 1
    assert wix_contacts_with(sandbox, label.key) == before
    status = living_status(LivingLabel.objects.get())
    assert status.rules_gone == [f"label “{rule_label.display_name}”"]
    # Its undo brings the label back under a new key: the rules follow it, the label resumes.
    deletion_op = Operation.objects.filter(kind=Operation.Kind.LABEL_DELETE).latest("pk")
    operation_undo(op_id=deletion_op.pk, user=manager)
    run_label_jobs()
    restored = LabelDeletion.objects.get().restored_key
    assert restored
    keys = [restored, *keys[1:]]
    converge(run_label_jobs)
    assert wix_contacts_with(sandbox, label.key) == wix_members(sync_client, in_spring(keys))

    # Evening: a pass is cut short after queueing its jobs (a worker killed): the next pass
    # sends nothing twice, and once the jobs run the label is equal again.
    sandbox.api("POST", f"{CONTACTS_PATH}/{contacts[10]}/labels", json={"labelKeys": [keys[0]]})
    sandbox.api("DELETE", f"{CONTACTS_PATH}/{contacts[11]}/labels", params={"labelKeys": keys[0]})
    sync_wix(kind="incremental", client=sync_client)
    first = living_labels_keep(why="before the crash")
    queued = LabelJob.objects.filter(
        kind=LabelJob.Kind.LIVING, status=LabelJob.Status.QUEUED
    ).count()
    second = living_labels_keep(why="after the crash")
    assert second["busy"] == first["changed"] == 1
    assert (
        LabelJob.objects.filter(kind=LabelJob.Kind.LIVING, status=LabelJob.Status.QUEUED).count()
        == queued
    )
    converge(run_label_jobs)
    assert wix_contacts_with(sandbox, label.key) == wix_members(sync_client, in_spring(keys))

    # Night: stopped, the label stays as it is while the audience moves on.
    kept = wix_contacts_with(sandbox, label.key)
    living_label_stop(living=LivingLabel.objects.get(), user=manager)
    for contact in contacts[20:24]:
        sandbox.api("POST", f"{CONTACTS_PATH}/{contact}/labels", json={"labelKeys": [keys[0]]})
    sync_wix(kind="incremental", client=sync_client)
    assert living_labels_keep() == {"equal": 0, "changed": 0, "busy": 0, "paused": 0, "waiting": 0}
    assert wix_contacts_with(sandbox, label.key) == kept
    kinds = Operation.objects.filter(kind=Operation.Kind.LIVING_LABEL).values_list(
        "summary", flat=True
    )
    assert any(s.startswith("Start keeping") for s in kinds)
    assert any(s.startswith("Stop keeping") for s in kinds)


def test_rules_that_read_their_own_label_are_refused(day, manager):
    audience, label, keys = day
    audience.rules = SegmentRules(all_of=(keys[0],), none_of=(label.key,)).as_json()
    audience.save()
    with pytest.raises(LivingRefused, match="the label they would keep"):
        living_label_start(audience=audience, label=label, user=manager)
    # Through another living label: B keeps keys[3] from rules that read A's label.
    other = Audience.objects.create(name="B", rules=SegmentRules(any_of=(label.key,)).as_json())
    kept = Label.objects.get(key=keys[3])
    living_label_start(audience=other, label=kept, user=manager)
    audience.rules = SegmentRules(all_of=(keys[3],)).as_json()
    audience.save()
    with pytest.raises(LivingRefused, match="through audience “B”"):
        living_label_start(audience=audience, label=label, user=manager)


def test_a_label_follows_one_audience_and_system_labels_are_refused(day, manager):
    audience, label, _keys = day
    living_label_start(audience=audience, label=label, user=manager)
    other = Audience.objects.create(name="Other", rules={})
    with pytest.raises(LivingRefused, match="kept by audience “Spring” already"):
        living_label_start(audience=other, label=label, user=manager)
    system = Label.objects.filter(label_type=Label.Type.SYSTEM).first()
    with pytest.raises(LivingRefused, match="system label"):
        living_label_start(audience=other, label=system, user=manager)


def test_new_rules_for_a_living_audience_show_the_difference_first(day, manager, client):
    audience, label, keys = day
    living_label_start(audience=audience, label=label, user=manager)
    client.force_login(manager)
    save = reverse("admin:contacts_contact_save")
    post = {"audience": str(audience.pk), "name": "Spring", "all": keys[4]}
    response = client.post(save, post, headers=HTMX)
    content = response.content.decode()
    assert "kept in Wix as the living label “Spring (living)”" in content
    said = response.context["living_change"]["said"]
    audience.refresh_from_db()
    assert audience.rules.get("all_of") != [keys[4]]  # not saved yet
    response = client.post(save, {**post, "living_confirmed": said}, headers=HTMX)
    assert response.status_code == 200
    audience.refresh_from_db()
    assert audience.rules["all_of"] == [keys[4]]
    # Rules that read the label itself are refused outright.
    looping = {**post, "all": label.key, "living_confirmed": said}
    assert "the label they would keep" in client.post(save, looping, headers=HTMX).content.decode()


def test_a_change_by_hand_to_a_living_label_says_it_is_living(day, manager, client):
    audience, label, _keys = day
    living_label_start(audience=audience, label=label, user=manager)
    client.force_login(manager)
    response = client.post(
        reverse("admin:contacts_contact_bulk_preview"),
        {"selection": "all", "add": label.key},
        headers=HTMX,
    )
    assert "kept by audience" in response.content.decode()
    assert "“Spring”" in response.content.decode()
    panel = client.get(reverse("admin:contacts_audience_living", args=[audience.pk]), headers=HTMX)
    assert "Kept in Wix as" in panel.content.decode()
    assert "change" in panel.content.decode()  # its pending changes are said


def test_renaming_a_living_label_says_it_is_living(day, manager, client):
    audience, label, _keys = day
    url = reverse("admin:labels_label_edit", args=[label.key])
    client.force_login(manager)
    assert "A living label" not in client.get(url, headers=HTMX).content.decode()
    living_label_start(audience=audience, label=label, user=manager)
    content = client.get(url, headers=HTMX).content.decode()
    assert "A living label: " in content
    assert "the audience <a href" in content
    assert "“Spring”</a> keeps it equal to itself." in content
    detail = client.get(reverse("admin:labels_label_detail", args=[label.key])).content.decode()
    assert '>Spring</a> <span class="label-living-mark">keeps this label equal to itself' in detail
    confirm = reverse("admin:labels_label_delete_confirm", args=[label.key])
    warning = client.get(confirm, headers=HTMX).content.decode()
    assert "the audience <a href" in warning
    assert "“Spring”</a> keeps this label equal to itself. Once it is deleted" in warning


def test_the_labels_page_marks_a_living_label_with_its_audience(
    day, manager, client, run_label_jobs
):
    audience, label, _keys = day
    page = reverse("admin:labels_label_changelist")
    client.force_login(manager)
    assert "label-living-mark" not in client.get(page).content.decode()

    living_label_start(audience=audience, label=label, user=manager)

    link = f'<a href="{reverse("admin:contacts_contact_changelist")}?audience={audience.pk}">'
    kept = f"Living: {link}the audience “Spring”</a> keeps it equal to itself"
    row = reverse("admin:labels_label_row", args=[label.key])
    for url, headers in ((page, {}), (row, HTMX)):
        content = client.get(url, headers=headers).content.decode()
        assert content.count("label-living-mark") == 1  # its row only
        assert kept in content
    # Deleted, then undone in its row: the audience follows the new key, and so does the mark.
    label_delete(label=label, expected_name=label.display_name, user=manager)
    deletion = LabelDeletion.objects.get()
    undone = client.post(
        reverse("admin:labels_label_undo", args=[deletion.pk]), {"place": "row"}, headers=HTMX
    ).content.decode()
    run_label_jobs()
    deletion.refresh_from_db()
    assert LivingLabel.objects.get().label_key == deletion.restored_key
    assert kept in undone

    # Audiences are named to those who may see them; linked for those who may see contacts too.
    for username, permissions, shown in (
        ("audiences", ("contacts.view_audience",), "Living: the audience “Spring” keeps it"),
        ("labels-only", (), "Living: a saved audience keeps it equal to itself"),
    ):
        client.force_login(make_user(username, "labels.view_label", *permissions))
        content = client.get(page).content.decode()
        assert shown in content
        assert link not in content
        assert ("“Spring”" in content) == bool(permissions)


def test_rules_for_contacts_without_labels_are_refused(day, manager):
    audience, label, _keys = day
    audience.rules = SegmentRules(unlabeled=True).as_json()
    audience.save()
    with pytest.raises(LivingRefused, match="no labels at all"):
        living_label_start(audience=audience, label=label, user=manager)


def test_a_pass_that_would_empty_most_of_the_label_waits_for_a_person(
    day, manager, sandbox, run_label_jobs, client, monkeypatch
):
    monkeypatch.setattr(living_module, "BRAKE_MIN", 5)  # the day's label holds some 40
    audience, label, keys = day
    living_label_start(audience=audience, label=label, user=manager)
    converge(run_label_jobs)
    holders = wix_contacts_with(sandbox, label.key)
    assert len(holders) > 2 * 5  # the brake's smallest removal: the check below could fail
    # The rules narrowed behind the page's back (by hand in the database): nearly all would go.
    audience.rules = SegmentRules(all_of=(keys[0], keys[1], keys[3])).as_json()
    audience.save()
    counts = living_labels_keep(why="test")
    assert counts["waiting"] == 1
    run_label_jobs()
    assert wix_contacts_with(sandbox, label.key) == holders  # nothing taken meanwhile
    living = LivingLabel.objects.get()
    assert "more than labelsite changes without a person's word" in living.waiting
    client.force_login(manager)
    url = reverse("admin:contacts_audience_living_confirm", args=[audience.pk])
    client.post(url, {"expected": str(living.waiting_leaving)}, headers=HTMX)
    converge(run_label_jobs)
    assert len(wix_contacts_with(sandbox, label.key)) < len(holders) / 2


def test_only_a_label_manager_may_keep_a_label_by_taking_it_from_everyone(
    day, marketer, sandbox, client
):
    audience, _label, keys = day
    audience.created_by = marketer
    audience.rules = SegmentRules(all_of=(keys[0],), none_of=(keys[0],)).as_json()  # nobody
    audience.save()
    client.force_login(marketer)
    url = reverse("admin:contacts_audience_living_preview", args=[audience.pk])
    name = Label.objects.get(key=keys[1]).display_name
    content = client.post(url, {"name": name}, headers=HTMX).content.decode()
    assert "only a label manager can do that" in content
    start = reverse("admin:contacts_audience_living_start", args=[audience.pk])
    client.post(
        start,
        {"name": name, "expected": f"0:{len(wix_contacts_with(sandbox, keys[1]))}"},
        headers=HTMX,
    )
    assert not LivingLabel.objects.exists()


def test_deleting_a_living_audience_stops_its_label_in_the_journal(
    day, manager, sandbox, run_label_jobs
):
    audience, label, _keys = day
    living_label_start(audience=audience, label=label, user=manager)
    converge(run_label_jobs)
    kept = wix_contacts_with(sandbox, label.key)
    assert kept

    audience_delete(audience=audience, user=manager)

    assert not LivingLabel.objects.exists()
    stop = Operation.objects.filter(kind=Operation.Kind.LIVING_LABEL).latest("pk")
    assert stop.summary == f"Stop keeping “{label.display_name}” equal to audience “Spring”"
    assert (stop.state, stop.user) == (Operation.State.DONE, manager)
    assert wix_contacts_with(sandbox, label.key) == kept  # the label stays as it is


def test_a_contact_wix_no_longer_has_is_not_sent_again_pass_after_pass(
    day, manager, sandbox, sync_client, run_label_jobs
):
    """Deleted in Wix before the sync heard: its job fails that contact, writes nothing, and so
    queues no pass that would send it again (the regular pass or a sync comes back to it)."""
    audience, label, keys = day
    living_label_start(audience=audience, label=label, user=manager)
    converge(run_label_jobs)
    outsider = next(
        c["id"] for c in sandbox.dump()["contacts"] if not {keys[0], keys[2]} & set(c["labelKeys"])
    )
    sandbox.api("POST", f"{CONTACTS_PATH}/{outsider}/labels", json={"labelKeys": [keys[0]]})
    sync_wix(kind="incremental", client=sync_client)  # it enters the audience here
    assert sandbox.api("DELETE", f"{CONTACTS_PATH}/{outsider}").ok  # and leaves Wix

    assert living_labels_keep(why="test")["changed"] == 1
    passes = DBTaskResult.objects.filter(task_path=keep_living_labels.module_path)
    passes.delete()
    (job,) = run_label_jobs()
    assert (job.failed, job.failed_contact_ids) == (1, [outsider])
    assert not passes.exists()  # no pass queued by the job's end


def test_the_panel_names_a_gone_label_and_says_just_now(
    day, manager, client, sandbox, run_label_jobs
):
    audience, label, _keys = day
    living_label_start(audience=audience, label=label, user=manager)
    converge(run_label_jobs)
    client.force_login(manager)
    panel = reverse("admin:contacts_audience_living", args=[audience.pk])
    assert "Last brought up to date just now." in client.get(panel, headers=HTMX).content.decode()

    label_delete(label=label, expected_name=label.display_name, user=manager)
    run_label_jobs()
    content = client.get(panel, headers=HTMX).content.decode()
    assert "Paused: the label “Spring (living)” is gone" in content  # its name, not its key
    assert label.key not in content


def test_changing_an_audience_a_living_one_names_queues_a_pass_at_once(day, manager):
    """The living label follows a change of a saved audience its rules name, now, not at the
    next regular pass."""
    audience, label, keys = day
    base = Audience.objects.create(name="Base", rules=SegmentRules(any_of=(keys[3],)).as_json())
    tree = nested.from_document({"any": [{"audience": base.pk}]})
    audience.rules = SegmentRules(tree=tree).as_json()
    audience.save()
    living_label_start(audience=audience, label=label, user=manager)
    passes = DBTaskResult.objects.filter(task_path=keep_living_labels.module_path)
    passes.delete()

    audience_update(audience=base, user=manager, rules=SegmentRules(any_of=(keys[4],)))

    (queued,) = passes.ready()  # due now
    assert queued.args_kwargs["kwargs"]["why"] == "audience “Base” changed"


def test_a_label_another_audience_keeps_is_refused_at_its_preview(day, manager, client):
    audience, label, _keys = day
    living_label_start(audience=audience, label=label, user=manager)
    other = Audience.objects.create(name="Other", rules={}, created_by=manager)
    client.force_login(manager)
    url = reverse("admin:contacts_audience_living_preview", args=[other.pk])
    content = client.post(url, {"name": label.display_name}, headers=HTMX).content.decode()
    assert "is kept by audience “Spring” already" in content
    start = reverse("admin:contacts_audience_living_start", args=[other.pk])
    assert f'hx-post="{start}"' not in content  # no Keep button to press


def test_the_panel_opened_by_hand_is_the_audience_page(day, manager, client):
    audience, _label, _keys = day
    client.force_login(manager)
    response = client.get(reverse("admin:contacts_audience_living", args=[audience.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:contacts_audience_change", args=[audience.pk])


def test_the_delete_page_says_in_words_what_goes_with_a_living_audience(
    day, manager, run_label_jobs, client
):
    audience, label, _keys = day
    living_label_start(audience=audience, label=label, user=manager)
    converge(run_label_jobs)
    AudienceSize.objects.create(
        audience=audience, day=date(2026, 11, 30), count=3, smallest=3, largest=3,
        counted_at=timezone.now(),
    )  # fmt: skip
    client.force_login(manager)

    page = client.get(reverse("admin:contacts_audience_delete", args=[audience.pk]))

    text = page.content.decode()
    assert "Audience “Spring”" in text
    assert "its chart of sizes (1 day)" in text
    assert (
        "keeping the Wix label “Spring (living)” equal to it: that stops, and the label stays "
        "in Wix with the contacts it has"
    ) in text
    assert "Audience size:" not in text  # no row per day
    assert "No contact and no label changes in Wix." in text
    assert 'value="Delete audience"' in text


def test_the_audience_list_marks_an_audience_that_keeps_a_label(
    day, manager, client, run_label_jobs
):
    audience, label, _keys = day
    client.force_login(manager)
    audiences = reverse("admin:contacts_audience_changelist")
    assert "audience-living" not in client.get(audiences).content.decode()

    living_label_start(audience=audience, label=label, user=manager)

    assert (
        "Keeps the Wix label “Spring (living)” equal to it"
        in client.get(audiences).content.decode()
    )
    label_delete(label=label, expected_name=label.display_name, user=manager)
    run_label_jobs()
    assert "Paused: the label it keeps is gone from Wix" in client.get(audiences).content.decode()


def test_a_refused_word_on_a_waiting_label_is_said_in_the_panel(
    day, manager, marketer, client, run_label_jobs
):
    audience, label, _keys = day
    living_label_start(audience=audience, label=label, user=manager)
    converge(run_label_jobs)
    holders = ContactLabel.objects.filter(label__key=label.key).count()
    assert holders  # the label has holders here: taking them all is a label manager's action
    LivingLabel.objects.update(
        waiting="it would take the label from everyone", waiting_leaving=holders
    )
    audience.created_by = marketer
    audience.save()
    client.force_login(marketer)
    url = reverse("admin:contacts_audience_living_confirm", args=[audience.pk])

    content = client.post(url, {"expected": str(holders)}, headers=HTMX).content.decode()

    assert "only a label manager can do that" in content
    assert LivingLabel.objects.get().allow_leaving == 0


def test_the_delete_page_of_an_audience_whose_living_label_is_gone(
    day, manager, run_label_jobs, client
):
    audience, label, _keys = day
    living_label_start(audience=audience, label=label, user=manager)
    label_delete(label=label, expected_name=label.display_name, user=manager)
    run_label_jobs()
    client.force_login(manager)
    text = client.get(reverse("admin:contacts_audience_delete", args=[audience.pk])).content
    assert "keeping its living label, which is gone from Wix already (paused)" in text.decode()
    assert "stays in Wix" not in text.decode()
