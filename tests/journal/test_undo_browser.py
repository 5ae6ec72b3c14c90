"""Undo in Chromium, as marketers and label managers use it: a deleted label empties the saved
audiences that need it (never widens them) and Undo brings it back into them under its new key;
a contact's label and a bulk change are undone from where they were made."""

from __future__ import annotations

import csv
import re

import pytest
from playwright.sync_api import Page, expect

from contacts.models import Audience
from labels.models import LabelDeletion, LabelJob
from tests.fixtures.sandbox_data import wix_contacts_with, wix_label
from tests.fixtures.users import PASSWORD
from wixcache.models import Contact, Label

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LABELS_URL = "/admin/labels/label/"
CONTACTS_URL = "/admin/contacts/contact/"
AUDIENCES_URL = "/admin/contacts/audience/"
JOB_TIMEOUT = 30_000
X = "custom.newsletter"  # the first seeded label: on about a third of the contacts


@pytest.fixture
def seeded(synced):
    synced(contacts=300, labels=8, seed=5)


@pytest.fixture
def second_page(browser, live_server):
    """Another person's browser beside `page`: its own cookies, its own tabs."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def log_in(page: Page, user) -> None:
    page.goto("/admin/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")


def pick(page: Page, group: str, name: str) -> None:
    """Type into a group's label picker and click the suggestion, like a person."""
    page.locator(f"#picker-{group}").fill(name)
    options = page.locator(f"#picker-{group}-list").get_by_role("option")
    options.filter(has=page.get_by_text(name, exact=True)).click()
    expect(page.locator(f"#chips-{group}")).to_contain_text(name)
    expect(page.locator("#segment-form")).not_to_have_class(re.compile("htmx-request"))


def shown_count(page: Page) -> int:
    text = page.locator("#contact-count").inner_text()
    match = re.fullmatch(r"([\d,]+) contacts?", text.strip())
    assert match, f"unexpected count text {text!r}"
    return int(match.group(1).replace(",", ""))


def open_audience_from_list(page: Page, name: str) -> str:
    """Go to the saved audiences, read the Contacts column of `name`, and open it by name."""
    page.goto(AUDIENCES_URL)
    row = page.locator("#result_list tbody tr").filter(has_text=name)
    expect(row).to_have_count(1)
    listed = row.locator("td.field-contacts").inner_text()
    row.get_by_role("link", name=name).click()
    expect(page.locator("h1")).to_have_text(f"Audience: {name}")
    return listed


def label_row(page: Page, key: str):
    return page.locator(f"#label-row-{Label.objects.get(key=key).pk}")


# --- 1. The Done-when: delete, the audience matches nobody, Undo, it matches N again --


def test_deleted_label_empties_a_saved_audience_and_undo_fills_it_again(
    page, second_page, marketer, manager, seeded, sandbox, task_worker
):
    x = Label.objects.get(key=X)
    wix_had = wix_contacts_with(sandbox, X)

    # A marketer builds "ALL of Newsletter" and saves it.
    log_in(page, marketer)
    page.goto(CONTACTS_URL)
    everyone = shown_count(page)
    pick(page, "all", x.display_name)
    expect(page).to_have_url(re.compile(rf"all={re.escape(X)}"))  # the results followed
    n = shown_count(page)
    assert 0 < n < everyone
    assert n == len(wix_had)
    page.get_by_text("Save as audience").click()
    page.get_by_label("Name").fill("Newsletter readers")
    page.get_by_role("button", name="Save as new audience").click()
    expect(page.locator("h1")).to_have_text("Audience: Newsletter readers")
    expect(page.locator("#contact-count")).to_have_text(f"{n:,} contacts")
    audience = Audience.objects.get()
    assert audience.rules["all_of"] == [X]

    # A label manager deletes the label, clicking through the confirm row.
    manager_page = second_page
    log_in(manager_page, manager)
    manager_page.goto(LABELS_URL)
    row = label_row(manager_page, X)
    row.get_by_role("button", name=f"Delete “{x.display_name}”").click()
    expect(row).to_contain_text(f"{n} contacts will lose this label")
    expect(row.get_by_role("note").filter(has_text="saved audience")).to_contain_text(
        "1 saved audience uses this label: “Newsletter readers”."
    )
    row.get_by_role("button", name="Delete label").click()
    deleted = manager_page.locator(".label-row.is-deleted")
    expect(deleted).to_contain_text(f"Deleted “{x.display_name}”: {n} contacts lost it.")
    assert wix_label(sandbox, X) is None
    assert wix_contacts_with(sandbox, X) == set()

    # The marketer opens the saved audience: the label is missing and nobody matches.
    listed = open_audience_from_list(page, "Newsletter readers")
    assert listed == "0", f"the audience list counts {listed} contacts for an emptied audience"
    missing_chip = page.locator("#chips-all .chip-missing")
    expect(missing_chip).to_have_count(1)
    expect(missing_chip).to_contain_text(f"{x.display_name} (deleted)")
    assert "line-through" in missing_chip.evaluate("el => getComputedStyle(el).textDecorationLine")
    note = page.locator(".segment-missing[role=alert]")
    expect(note).to_have_count(1)
    expect(note).to_contain_text(
        f"“{x.display_name}” no longer exists, so no contact can have it: "
        "this audience matches nobody."
    )
    expect(page.locator("#contact-count")).to_have_text("0 contacts")
    expect(page.locator("#result_list")).to_contain_text("No contacts match these rules.")
    expect(page.locator("label").filter(has=page.locator("#select-all-matching"))).to_have_text(
        "All 0 matching"
    )
    expect(page.locator("#picker-all")).to_be_visible()  # to choose another label
    page.screenshot(path="/tmp/undo-audience-missing.png", full_page=True)

    # "All matching" offers nobody: a bulk change previews zero contacts and cannot start.
    page.locator("#select-all-matching").check()
    pick(page, "add", "VIP")
    page.get_by_role("button", name="Preview change").click()
    panel = page.locator("#bulk-panel")
    expect(panel).to_contain_text("0 of 0 selected contacts will change")
    expect(panel.get_by_role("button", name=re.compile("^Apply to"))).to_have_count(0)
    # Nor does the export.
    with page.expect_download() as download:
        page.get_by_role("link", name="UTF-8").click()
    with open(download.value.path(), encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1, f"the export of an emptied audience has {len(rows) - 1} contacts"

    # The label manager presses Undo on the labels page; the worker gives the label back.
    deleted.get_by_role("button", name="Undo").click()
    restored_note = manager_page.get_by_role("status").filter(has_text="Restored as a new label")
    expect(restored_note).to_contain_text(f"(it was {X};")
    expect(manager_page.locator("#label-activity .job-progress")).to_contain_text(
        "Done", timeout=JOB_TIMEOUT
    )
    deletion = LabelDeletion.objects.get()
    new_key = deletion.restored_key
    assert new_key
    assert new_key != X
    restored_row = label_row(manager_page, new_key)
    expect(restored_row.locator(".col-key")).to_have_text(new_key)
    expect(restored_row.locator(".count")).to_have_text(str(n))
    assert wix_contacts_with(sandbox, new_key) == wix_had
    assert wix_label(sandbox, new_key)["displayName"] == x.display_name

    # The marketer opens the saved audience again: N contacts, the label by its new key.
    listed = open_audience_from_list(page, "Newsletter readers")
    assert listed == f"{n:,}"
    expect(page.locator("#contact-count")).to_have_text(f"{n:,} contacts")
    expect(page.locator(".segment-missing")).to_have_count(0)
    chips = page.locator("#chips-all .chip")
    expect(chips).to_have_count(1)
    expect(chips).not_to_contain_text("(deleted)")
    expect(chips.locator("input[type=hidden]")).to_have_value(new_key)
    expect(page).to_have_url(re.compile(rf"all={re.escape(new_key)}"))
    expect(page.locator("label").filter(has=page.locator("#select-all-matching"))).to_have_text(
        f"All {n:,} matching"
    )
    audience.refresh_from_db()
    assert audience.rules["all_of"] == [new_key]
    page.screenshot(path="/tmp/undo-audience-restored.png", full_page=True)


# --- 2. The delete confirm row names the saved audiences that need the label ------------------


def test_delete_confirm_row_names_the_audience_that_uses_the_label(
    page, login, manager, marketer, seeded, sandbox
):
    vip = Label.objects.get(key="custom.vip")
    using = Audience.objects.create(
        name="Spring “VIP” push",
        rules={"all_of": [], "any_of": ["custom.lead", vip.key], "none_of": []},
        created_by=marketer,
    )
    Audience.objects.create(
        name="Leads only", rules={"all_of": ["custom.lead"]}, created_by=marketer
    )
    login(manager)
    page.goto(LABELS_URL)
    row = label_row(page, vip.key)
    row.get_by_role("button", name="Delete “VIP”").click()
    expect(row).to_have_class(re.compile("is-confirming"))
    warning = row.locator(".label-warning[role=note]")
    expect(warning).to_contain_text("1 saved audience uses this label: “Spring “VIP” push”.")
    expect(warning).not_to_contain_text("Leads only")
    expect(warning.get_by_role("link", name="“Spring “VIP” push”")).to_have_attribute(
        "href", re.compile(rf"audience={using.pk}")
    )
    expect(row.get_by_role("button", name="Delete label")).to_be_focused()
    row.scroll_into_view_if_needed()
    page.screenshot(path="/tmp/undo-delete-confirm.png")

    # Escape leaves the label alone, as Cancel does.
    page.keyboard.press("Escape")
    expect(row.get_by_role("button", name="Delete “VIP”")).to_be_visible()
    assert wix_label(sandbox, vip.key) is not None

    # The audience link in the warning opens that audience.
    row.get_by_role("button", name="Delete “VIP”").click()
    row.locator(".label-warning").get_by_role("link").click()
    expect(page.locator("h1")).to_have_text("Audience: Spring “VIP” push")
    expect(page.locator("#chips-any")).to_contain_text("VIP")


# --- 3. A contact's label: remove the chip, Undo, the chip is back (and in Wix) ----------------


def test_remove_a_contact_label_and_undo_it(page, login, marketer, seeded, sandbox):
    contact = next(
        c
        for c in Contact.objects.order_by("pk")
        if c.labels.filter(namespace="custom").count() >= 2
    )
    label = contact.labels.filter(namespace="custom").order_by("display_name").first()
    assert label.key in wix_labels_of(sandbox, contact.wix_id)
    login(marketer)
    page.goto(f"{CONTACTS_URL}{contact.pk}/change/")
    chips = page.locator("#contact-labels .chips")
    expect(chips).to_contain_text(label.display_name)

    page.get_by_role("button", name=f"Remove label {label.display_name}").click()
    status = page.locator("#contact-labels [role=status]")
    expect(status).to_contain_text(f"Removed label “{label.display_name}”.")
    undo = status.get_by_role("button", name="Undo")
    expect(undo).to_be_visible()
    expect(chips.locator("li").filter(has_text=label.display_name)).to_have_count(0)
    assert label.key not in wix_labels_of(sandbox, contact.wix_id)
    assert not contact.labels.filter(pk=label.pk).exists()
    page.screenshot(path="/tmp/undo-contact-removed.png")

    undo.click()
    expect(chips.locator("li").filter(has_text=label.display_name)).to_have_count(1)
    expect(page.locator("#contact-labels [role=status]")).to_contain_text("Undone")
    expect(page.locator(".contact-history")).to_contain_text(
        f"Undo: Added label “{label.display_name}”."
    )
    assert label.key in wix_labels_of(sandbox, contact.wix_id)
    assert contact.labels.filter(pk=label.pk).exists()
    page.screenshot(path="/tmp/undo-contact-undone.png")


def wix_labels_of(sandbox, wix_id: str) -> set[str]:
    contact = next(c for c in sandbox.dump()["contacts"] if c["id"] == wix_id)
    return set(contact["labelKeys"])


# --- 4. A bulk change: the job box offers Undo once it is done; Undo reverses exactly it ------


def test_bulk_add_to_ticked_contacts_then_undo_from_the_job_box(
    page, login, marketer, seeded, sandbox, task_worker
):
    target = Label.objects.get(key="custom.lead")
    first_page = list(Contact.objects.order_by("remote_created_at", "wix_id")[:25])
    had = [c for c in first_page if c.labels.filter(pk=target.pk).exists()]
    lacked = [c for c in first_page if not c.labels.filter(pk=target.pk).exists()]
    assert had
    assert len(lacked) >= 3
    ticked = [had[0], *lacked[:3]]

    login(marketer)
    page.goto(CONTACTS_URL)
    for contact in ticked:
        page.locator(f'#result_list input[name=contact][value="{contact.wix_id}"]').check()
    pick(page, "add", target.display_name)
    page.get_by_role("button", name="Preview change").click()
    panel = page.locator("#bulk-panel")
    expect(panel).to_contain_text(f"3 of 4 selected contacts will change (add “{target}”)")
    panel.get_by_role("button", name="Apply to 3 contacts").click()
    box = panel.locator(".job-progress").first
    expect(box).to_contain_text("Done", timeout=JOB_TIMEOUT)
    for contact in ticked:
        assert target.key in wix_labels_of(sandbox, contact.wix_id)
        assert contact.labels.filter(pk=target.pk).exists()

    undo = box.get_by_role("button", name="Undo")
    expect(undo).to_be_visible()
    box.scroll_into_view_if_needed()
    page.screenshot(path="/tmp/undo-job-box.png")
    undo.click()
    expect(box).to_contain_text("started. Progress is shown below.")
    # The change being undone no longer offers its own Undo (only the undo job, once done).
    expect(box.locator(":scope > button", has_text="Undo")).to_have_count(0)
    undo_box = box.locator(".job-progress")
    expect(undo_box).to_have_count(1)
    expect(undo_box).to_contain_text("Done", timeout=JOB_TIMEOUT)
    page.screenshot(path="/tmp/undo-job-box-undone.png")
    undo_job = LabelJob.objects.order_by("-pk").first()
    assert undo_job.remove_keys == [target.key]

    # Exactly what the job gave is taken back: the contact that had the label keeps it.
    for contact in lacked[:3]:
        assert target.key not in wix_labels_of(sandbox, contact.wix_id)
        assert not contact.labels.filter(pk=target.pk).exists()
        row = page.locator("#result_list tbody tr").filter(
            has=page.locator(f'input[value="{contact.wix_id}"]')
        )
        expect(row.locator(".contact-labels")).not_to_contain_text(target.display_name)
    assert target.key in wix_labels_of(sandbox, had[0].wix_id)
    assert had[0].labels.filter(pk=target.pk).exists()


# --- 5. A tab left open on the audience while the label was gone must not undo the mending ----


def test_saving_an_audience_tab_opened_before_the_restore_keeps_the_audience_whole(
    page, second_page, marketer, manager, seeded, sandbox, task_worker
):
    audience = Audience.objects.create(
        name="Newsletter readers", rules={"all_of": [X]}, created_by=marketer
    )
    n = len(wix_contacts_with(sandbox, X))
    log_in(page, marketer)
    open_audience_from_list(page, "Newsletter readers")
    expect(page.locator("#contact-count")).to_have_text(f"{n:,} contacts")

    # Meanwhile a label manager deletes the label and undoes it; the audience is mended.
    log_in(second_page, manager)
    second_page.goto(LABELS_URL)
    row = label_row(second_page, X)
    row.get_by_role("button", name="Delete “Newsletter”").click()
    row.get_by_role("button", name="Delete label").click()
    second_page.locator(".label-row.is-deleted").get_by_role("button", name="Undo").click()
    expect(second_page.locator("#label-activity .job-progress")).to_contain_text(
        "Done", timeout=JOB_TIMEOUT
    )
    new_key = LabelDeletion.objects.get().restored_key
    audience.refresh_from_db()
    assert audience.rules["all_of"] == [new_key]

    # The marketer, in the tab opened before, only adds a description and saves.
    page.locator("details.save-audience > summary").click()
    page.locator("#id_description").fill("For the spring mailing")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".audience-description")).to_have_text("For the spring mailing")
    audience.refresh_from_db()
    assert audience.rules["all_of"] != [X], (
        f"saving the old tab wrote the deleted key {X} back into the audience "
        f"(it named {new_key} after the restore): it now matches nobody"
    )
    listed = open_audience_from_list(page, "Newsletter readers")
    assert listed == f"{n:,}"
    expect(page.locator("#contact-count")).to_have_text(f"{n:,} contacts")
