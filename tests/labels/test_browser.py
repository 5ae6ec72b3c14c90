"""The labels page as a person uses it: Chromium, the live server, the sandbox and a worker."""

import re

import pytest
from playwright.sync_api import expect

from labels.models import LabelDeletion
from tests.fixtures.sandbox_data import wix_contacts_with, wix_label
from tests.labels.pages import LABELS_URL, row
from wixcache.models import Label

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_new_and_existing_label(labels_page, sandbox):
    page = labels_page
    name_box = page.get_by_label("Name", exact=True)
    name_box.fill("  Autumn fair ")
    page.get_by_role("button", name="Create label").click()
    expect(page.get_by_role("status").filter(has_text="Created “Autumn fair”")).to_be_visible()
    created = Label.objects.get(display_name="Autumn fair")
    expect(row(page, created.key)).to_have_class("label-row is-highlighted")
    assert wix_label(sandbox, created.key)["displayName"] == "Autumn fair"

    before = len(sandbox.dump()["labels"])
    name_box.fill("Newsletter")
    page.get_by_role("button", name="Create label").click()
    expect(page.get_by_text("“Newsletter” already exists")).to_be_visible()
    expect(row(page, "custom.newsletter")).to_have_class("label-row is-highlighted")
    assert len(sandbox.dump()["labels"]) == before


def test_near_duplicate_warning_before_creating(labels_page, sandbox):
    page = labels_page
    page.get_by_label("Name", exact=True).fill("spring  sale 2024")
    page.get_by_role("button", name="Create label").click()
    warning = page.get_by_role("alert").filter(has_text="nearly the same name")
    expect(warning).to_contain_text("“Spring Sale 2024”")
    assert all(lb["displayName"] != "spring  sale 2024" for lb in sandbox.dump()["labels"])

    page.get_by_role("button", name="Create anyway").click()
    expect(page.get_by_text("Created “spring  sale 2024”")).to_be_visible()
    assert any(lb["displayName"] == "spring  sale 2024" for lb in sandbox.dump()["labels"])


def test_rename_with_enter_and_cancel_with_escape(labels_page, sandbox):
    page = labels_page
    vip = row(page, "custom.vip")
    vip.get_by_role("button", name="Rename “VIP”").click()
    box = vip.get_by_label("New name for “VIP”")
    expect(box).to_be_focused()
    box.fill("VIP members")
    box.press("Enter")
    expect(vip.get_by_role("link", name="VIP members", exact=True)).to_be_visible()
    expect(vip.get_by_role("button", name="Rename “VIP members”")).to_be_focused()
    expect(vip).to_contain_text("custom.vip")
    assert wix_label(sandbox, "custom.vip")["displayName"] == "VIP members"

    lead = row(page, "custom.lead")
    lead.get_by_role("button", name="Rename “Lead”").click()
    box = lead.get_by_label("New name for “Lead”")
    box.fill("Something else")
    box.press("Escape")
    expect(lead.get_by_role("link", name="Lead", exact=True)).to_be_visible()
    expect(lead.get_by_role("button", name="Rename “Lead”")).to_be_focused()
    expect(lead.get_by_role("textbox")).to_have_count(0)
    assert wix_label(sandbox, "custom.lead")["displayName"] == "Lead"


def test_escape_on_a_delete_confirmation_gives_the_focus_back_to_delete(labels_page, sandbox):
    page = labels_page
    lead = row(page, "custom.lead")
    lead.get_by_role("button", name="Delete “Lead”").click()
    confirm = lead.get_by_role("button", name="Delete label")
    expect(confirm).to_be_focused()
    confirm.press("Escape")
    expect(lead.get_by_role("button", name="Delete “Lead”")).to_be_focused()
    expect(lead.get_by_role("button", name="Delete label")).to_have_count(0)
    assert wix_label(sandbox, "custom.lead") is not None


def test_escape_pressed_before_the_edit_row_settles_still_cancels(labels_page):
    # htmx wires up a swapped-in row when it settles; CI once pressed Esc inside that window and
    # the Cancel button it clicked did nothing. A long settle makes the window certain.
    page = labels_page
    page.evaluate("htmx.config.defaultSettleDelay = 1000")
    lead = row(page, "custom.lead")
    lead.get_by_role("button", name="Rename “Lead”").click()
    box = lead.get_by_label("New name for “Lead”")
    box.wait_for()
    box.press("Escape")
    expect(lead.get_by_role("link", name="Lead", exact=True)).to_be_visible()
    expect(lead.get_by_role("textbox")).to_have_count(0)


def test_delete_and_undo(labels_page, sandbox, task_worker):
    page = labels_page
    had = wix_contacts_with(sandbox, "custom.webinar-attendee")
    target = row(page, "custom.webinar-attendee")
    target.get_by_role("button", name="Delete “Webinar Attendee”").click()
    expect(target).to_contain_text(f"{len(had)} contacts will lose this label")
    target.get_by_role("button", name="Delete label").click()
    deleted = page.locator(".label-row.is-deleted")
    expect(deleted).to_contain_text(f"Deleted “Webinar Attendee”: {len(had)} contacts lost it.")
    assert wix_label(sandbox, "custom.webinar-attendee") is None
    expect(page.locator("#label-deletions")).to_contain_text("“Webinar Attendee”")

    deleted.get_by_role("button", name="Undo").click()
    expect(page.locator("#label-activity")).to_contain_text("Done", timeout=20_000)
    deletion = LabelDeletion.objects.get()
    assert deletion.restored_key
    assert deletion.restored_key != "custom.webinar-attendee"
    assert wix_contacts_with(sandbox, deletion.restored_key) == had
    restored = row(page, deletion.restored_key)
    expect(restored.locator(".count")).to_have_text(str(len(had)))


def test_merge_with_progress(labels_page, sandbox, task_worker):
    page = labels_page
    dump = sandbox.dump()
    lead = {c["id"] for c in dump["contacts"] if "custom.lead" in c["labelKeys"]}
    vip = {c["id"] for c in dump["contacts"] if "custom.vip" in c["labelKeys"]}
    row(page, "custom.lead").get_by_role("checkbox").check()
    row(page, "custom.vip").get_by_role("checkbox").check()
    page.get_by_role("button", name="Merge ticked labels…").click()
    merge = page.locator("#label-merge")
    merge.get_by_role("radio", name="“VIP”").check()
    gained = len(lead - vip)
    expect(merge.locator(".merge-preview")).to_contain_text(f"{gained} contact")
    expect(merge.locator(".merge-preview")).to_contain_text("will gain “VIP”")
    merge.get_by_role("button", name="Merge into “VIP”").click()
    expect(merge).to_contain_text("Merge started")
    progress = page.locator("#label-activity .job-progress")
    expect(progress).to_contain_text("Merge “Lead” into “VIP”")
    expect(progress).to_contain_text("Done", timeout=20_000)
    expect(page.locator("#label-table")).not_to_contain_text("custom.lead")
    assert wix_label(sandbox, "custom.lead") is None
    assert wix_contacts_with(sandbox, "custom.vip") == vip | lead
    expect(page.locator("#label-deletions")).to_contain_text("merged into “VIP”")


def test_merge_one_label_into_another_picked_by_keyboard(labels_page, sandbox, task_worker):
    page = labels_page
    dump = sandbox.dump()
    lead = {c["id"] for c in dump["contacts"] if "custom.lead" in c["labelKeys"]}
    vip = {c["id"] for c in dump["contacts"] if "custom.vip" in c["labelKeys"]}
    row(page, "custom.lead").get_by_role("checkbox").check()
    page.get_by_role("button", name="Merge ticked labels…").click()
    merge = page.locator("#label-merge")
    expect(merge).to_contain_text("Merge “Lead” into which label?")
    picker = merge.get_by_role("combobox", name="Merge into another label")
    picker.focus()
    page.keyboard.type("vip")
    expect(merge.get_by_role("option").first).to_contain_text(re.compile("^VIP "))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(merge.locator(".merge-preview")).to_contain_text("will gain “VIP”")
    button = merge.get_by_role("button", name="Merge into “VIP”")
    expect(button).to_be_focused()  # the next Enter merges
    page.screenshot(path="/tmp/merge-picked-target.png")
    page.keyboard.press("Enter")
    expect(merge).to_contain_text("Merge started")
    progress = page.locator("#label-activity .job-progress")
    expect(progress).to_contain_text("Done", timeout=20_000)
    assert wix_label(sandbox, "custom.lead") is None
    assert wix_contacts_with(sandbox, "custom.vip") == vip | lead


def test_system_label_is_locked(labels_page, sandbox):
    page = labels_page
    customers = row(page, "contacts.customers")
    expect(customers.get_by_role("img", name="Locked system label")).to_be_visible()
    expect(customers.get_by_role("button")).to_have_count(0)
    response = page.request.post(
        f"{LABELS_URL}contacts.customers/rename/",
        form={"display_name": "Buyers", "expected_name": "Customers"},
        headers={"X-CSRFToken": _csrf(page)},
    )
    assert "is a system label" in response.text()
    assert wix_label(sandbox, "contacts.customers")["displayName"] == "Customers"


def _csrf(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")


def test_marketing_user_sees_no_rename_or_delete_and_gets_403(
    page, login, marketer, synced, sandbox
):
    synced()
    login(marketer)
    page.goto(LABELS_URL)
    vip = row(page, "custom.vip")
    expect(vip).to_contain_text("VIP")
    expect(vip.get_by_role("button")).to_have_count(0)
    expect(page.get_by_role("button", name="Create label")).to_be_visible()
    expect(page.locator("#label-merge")).to_have_count(0)
    for path, form in (
        ("custom.vip/rename/", {"display_name": "Mine", "expected_name": "VIP"}),
        ("custom.vip/delete/", {"expected_name": "VIP"}),
    ):
        response = page.request.post(
            LABELS_URL + path, form=form, headers={"X-CSRFToken": _csrf(page)}
        )
        assert response.status == 403
        assert "CSRF verification failed" not in response.text()  # refused for the permission
    assert wix_label(sandbox, "custom.vip")["displayName"] == "VIP"


def test_wix_down_during_rename(labels_page, sandbox):
    page = labels_page
    lead = row(page, "custom.lead")
    lead.get_by_role("button", name="Rename “Lead”").click()
    sandbox.set_faults("503=1.0")
    box = lead.get_by_label("New name for “Lead”")
    box.fill("Hot leads")
    box.press("Enter")
    expect(lead.get_by_role("alert")).to_contain_text("Wix")
    expect(box).to_have_value("Hot leads")
    sandbox.set_faults("")
    assert wix_label(sandbox, "custom.lead")["displayName"] == "Lead"
    assert Label.objects.get(key="custom.lead").display_name == "Lead"


def test_search_as_you_type_keeps_state_in_the_url(labels_page):
    page = labels_page
    page.get_by_label("Search labels").fill("sale")
    expect(page.locator("#label-table")).to_contain_text("1 label matching “sale”")
    expect(page).to_have_url(re.compile(r"\?q=sale&o=name$"))
    page.reload()
    expect(page.get_by_label("Search labels")).to_have_value("sale")
    expect(page.locator("#label-rows tr")).to_have_count(1)
    page.locator("#label-table").get_by_role("link", name="Contacts", exact=True).click()
    expect(page).to_have_url(re.compile(r"o=-contacts"))
    expect(page.locator("thead th.col-count")).to_have_attribute("aria-sort", "descending")
    page.go_back()
    expect(page.locator("thead th.col-name")).to_have_attribute("aria-sort", "ascending")
