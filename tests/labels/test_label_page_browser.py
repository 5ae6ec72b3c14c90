"""In Chromium, by keyboard where a person would use it: a label's page, searching by name with
the sort kept, names sorted as people read them, Cancel on the near-duplicate warning, controls
that say they are working, the table following a finished job, and long names that wrap."""

import os
import re
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from contacts.models import Audience
from tests.fixtures.browser import htmx_settled
from tests.fixtures.sandbox_data import wix_label
from tests.labels.pages import LABELS_URL, row
from wixcache.models import Label

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("SCREENSHOTS_DIR")  # set it to look at the pages as PNGs
LONG_NAME = "Springsale" * 18  # 180 characters, no space


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def tab_to(page, name: str, *, most: int = 20) -> None:
    """Press Tab until the focused element is the link or button called `name`."""
    for _ in range(most):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent.trim()")
        if focused == name:
            return
    raise AssertionError(f"Tab never reached “{name}”")


def no_horizontal_scroll(page) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


# --- the label's page -------------------------------------------------------------------------


def test_search_then_tab_to_a_result_and_open_its_page_by_keyboard(labels_page):
    page = labels_page
    search = page.get_by_label("Search labels")
    search.focus()
    page.keyboard.type("cust")
    table = page.locator("#label-table")
    # Names only: every user key starts with "custom.", and none of those labels is listed.
    expect(table).to_contain_text("2 labels matching “cust”")
    expect(page.locator("#label-rows tr")).to_have_count(2)
    shot(page, "labels-search-cust")
    tab_to(page, "Customers")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Customers", level=1)).to_be_visible()
    customers = Label.objects.get(key="contacts.customers")
    expect(page).to_have_url(re.compile(r"/admin/labels/label/label/contacts\.customers/$"))
    expect(page.get_by_text(f"{customers.contacts.count()} contacts")).to_be_visible()
    expect(
        page.get_by_text("A system label: Wix does not allow renaming or deleting it.")
    ).to_be_visible()


def test_arrow_down_from_the_search_goes_to_the_first_result(labels_page):
    page = labels_page
    search = page.get_by_label("Search labels")
    search.fill("vip")
    expect(page.locator("#label-rows tr")).to_have_count(1)
    search.press("ArrowDown")
    expect(row(page, "custom.vip").get_by_role("link", name="VIP", exact=True)).to_be_focused()


def test_the_count_opens_the_label_page_with_its_contacts_audiences_and_history(
    labels_page, sandbox, manager
):
    page = labels_page
    vip = Label.objects.get(key="custom.vip")
    Audience.objects.create(name="Best buyers", rules={"all_of": [vip.key]}, created_by=manager)
    # A change, so that the history has something to show.
    lead = row(page, "custom.lead")
    lead.get_by_role("button", name="Rename “Lead”").click()
    box = lead.get_by_label("New name for “Lead”")
    box.fill("Hot lead")
    box.press("Enter")
    expect(lead.get_by_role("link", name="Hot lead", exact=True)).to_be_visible()
    expect(lead.get_by_role("button", name="Rename “Hot lead”")).to_be_focused()

    count = vip.contacts.count()
    link = row(page, "custom.vip").get_by_role("link", name=f"{count} contacts with “VIP”")
    link.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="VIP", level=1)).to_be_visible()
    expect(page.locator(".label-total")).to_have_text(f"{count} contacts have this label.")
    contacts = page.locator(".label-contacts tbody tr")
    expect(contacts).to_have_count(min(count, 25))
    expect(page.locator("#label-detail")).to_contain_text("Best buyers")
    shot(page, "label-page-vip")

    see = page.get_by_role("link", name="See its contacts")
    expect(see).to_have_attribute(
        "href", "/admin/contacts/contact/?all=" + quote("custom.vip", safe="")
    )

    page.goto(LABELS_URL)
    row(page, "custom.lead").get_by_role("link", name="Hot lead", exact=True).click()
    history = page.locator("section", has=page.get_by_role("heading", name="History"))
    expect(history).to_contain_text("“Lead” to “Hot lead”")
    expect(history).to_contain_text("manager")
    shot(page, "label-page-lead-history")


def test_a_deleted_label_page_says_so_and_leads_to_undo(labels_page, sandbox):
    page = labels_page
    page.goto(f"{LABELS_URL}label/custom.vip/")
    expect(page.get_by_role("heading", name="VIP", level=1)).to_be_visible()
    page.get_by_role("link", name="Delete…").click()
    expect(page).to_have_url(re.compile(r"\?q=custom\.vip#label-row-\d+$"))
    vip = row(page, "custom.vip")
    vip.get_by_role("button", name="Delete “VIP”").click()
    vip.get_by_role("button", name="Delete label").click()
    expect(page.locator(".label-row.is-deleted")).to_contain_text("Deleted “VIP”")

    response = page.goto(f"{LABELS_URL}label/custom.vip/")
    assert response.status == 404
    expect(page.get_by_role("alert")).to_contain_text("It may have been deleted.")
    expect(page.get_by_role("alert")).to_contain_text("“VIP” was deleted by manager")
    shot(page, "label-page-gone")
    page.get_by_role("link", name="undo it under “Recently deleted”").click()
    expect(page.locator("#label-deletions")).to_contain_text("“VIP”")
    expect(page.locator("#label-deletions").get_by_role("button", name="Undo")).to_be_visible()


# --- search and sort --------------------------------------------------------------------------


def test_searching_keeps_the_sort(labels_page):
    page = labels_page
    page.locator("#label-table").get_by_role("link", name="Contacts", exact=True).click()
    expect(page.locator("thead th.col-count")).to_have_attribute("aria-sort", "descending")
    page.get_by_label("Search labels").fill("e")
    expect(page.locator("#label-table")).to_contain_text("matching “e”")
    expect(page).to_have_url(re.compile(r"\?q=e&o=-contacts$"))
    expect(page.locator("thead th.col-count")).to_have_attribute("aria-sort", "descending")
    counts = [int(c) for c in page.locator("#label-rows .count").all_inner_texts()]
    assert counts == sorted(counts, reverse=True)
    # and the sort links keep the search
    page.locator("#label-table").get_by_role("link", name="Name", exact=True).click()
    expect(page).to_have_url(re.compile(r"\?q=e&o=name$"))
    expect(page.get_by_label("Search labels")).to_have_value("e")


def test_names_sort_as_people_read_them(labels_page, sandbox):
    page = labels_page
    name_box = page.get_by_label("Name", exact=True)
    name_box.fill("spring promo")
    name_box.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Created “spring promo”.")).to_be_visible()
    page.goto(LABELS_URL)
    names = page.locator("#label-rows a.label-name").all_inner_texts()
    assert names.index("spring promo") == names.index("Spring Sale 2024") - 1
    assert names == sorted(names, key=str.lower)


# --- Cancel on the near-duplicate warning -----------------------------------------------------


def test_cancel_on_the_near_duplicate_warning_returns_to_the_empty_form(labels_page, sandbox):
    page = labels_page
    name_box = page.get_by_label("Name", exact=True)
    name_box.fill("vip")
    name_box.press("Enter")
    expect(page.get_by_role("alert").filter(has_text="nearly the same name")).to_be_visible()
    shot(page, "labels-near-duplicate")
    expect(page.get_by_label("Name", exact=True)).to_be_focused()  # autofocus, once settled
    htmx_settled(page)
    tab_to(page, "Cancel", most=4)  # from the name box, past "Create anyway"
    page.keyboard.press("Enter")
    panel = page.locator("#label-create")
    expect(panel.get_by_role("button", name="Create label")).to_be_visible()
    expect(panel).not_to_contain_text("nearly the same name")
    name_box = page.get_by_label("Name", exact=True)
    expect(name_box).to_have_value("")
    expect(name_box).to_be_focused()
    # and the panel still works
    page.keyboard.type("Autumn fair")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Created “Autumn fair”.")).to_be_visible()
    assert all(lb["displayName"] != "vip" for lb in sandbox.dump()["labels"])


# --- work in progress -------------------------------------------------------------------------


def test_create_and_rename_say_they_are_working_and_cannot_be_sent_twice(labels_page, sandbox):
    page = labels_page
    sandbox.set_faults("latency=3000-3000ms")
    name_box = page.get_by_label("Name", exact=True)
    name_box.fill("Slow label")
    create = page.get_by_role("button", name="Create label")
    create.click()
    expect(create).to_be_disabled()
    expect(page.locator("#label-create-busy")).to_be_visible()
    expect(page.locator("#label-create-busy")).to_have_css("opacity", "1")
    shot(page, "labels-create-busy")
    create.click(force=True)  # a second press while it works does nothing
    expect(page.get_by_role("status").filter(has_text="Created “Slow label”.")).to_be_visible(
        timeout=30_000
    )
    expect(page.get_by_role("button", name="Create label")).to_be_enabled()
    assert [lb["displayName"] for lb in sandbox.dump()["labels"]].count("Slow label") == 1

    lead = row(page, "custom.lead")
    lead.get_by_role("button", name="Rename “Lead”").click()
    lead.get_by_label("New name for “Lead”").fill("Warm lead")
    save = lead.get_by_role("button", name="Save")
    save.press("Enter")
    expect(save).to_be_disabled()
    expect(lead.get_by_role("button", name="Cancel")).to_be_disabled()
    expect(lead.get_by_text("Saving…")).to_have_css("opacity", "1")
    shot(page, "labels-rename-busy")
    expect(lead.get_by_role("link", name="Warm lead", exact=True)).to_be_visible(timeout=30_000)
    sandbox.set_faults("")
    assert wix_label(sandbox, "custom.lead")["displayName"] == "Warm lead"


def test_delete_and_undo_say_they_are_working(labels_page, sandbox, task_worker):
    page = labels_page
    sandbox.set_faults("latency=3000-3000ms")
    target = row(page, "custom.newsletter")
    target.get_by_role("button", name="Delete “Newsletter”").click()
    delete = target.get_by_role("button", name="Delete label")
    expect(delete).to_be_focused()
    htmx_settled(page)
    page.keyboard.press("Enter")
    expect(delete).to_be_disabled()
    expect(target.get_by_text("Deleting…")).to_have_css("opacity", "1")
    deleted = page.locator(".label-row.is-deleted")
    expect(deleted).to_contain_text("Deleted “Newsletter”", timeout=30_000)
    undo = deleted.get_by_role("button", name="Undo")
    expect(undo).to_be_focused()
    htmx_settled(page)
    page.keyboard.press("Enter")
    expect(undo).to_be_disabled()
    expect(deleted.get_by_text("Restoring…")).to_have_css("opacity", "1")
    sandbox.set_faults("")
    expect(page.locator("#label-activity")).to_contain_text("Done", timeout=30_000)


# --- a finished job refreshes the table at once -------------------------------------------------


def test_the_table_follows_a_finished_merge_at_once(labels_page, sandbox, task_worker):
    page = labels_page
    # When "Done" shows, and when the merged-away label leaves the table (milliseconds).
    page.evaluate(
        """() => {
          window.seen = {};
          new MutationObserver(() => {
            const activity = document.getElementById("label-activity").textContent;
            const table = document.getElementById("label-table").textContent;
            if (!window.seen.done && activity.includes("Done")) {
              window.seen.done = performance.now();
            }
            if (!window.seen.table && !table.includes("custom.lead")) {
              window.seen.table = performance.now();
            }
          }).observe(document.body, {subtree: true, childList: true, characterData: true});
        }"""
    )
    row(page, "custom.lead").get_by_role("checkbox").check()
    row(page, "custom.vip").get_by_role("checkbox").check()
    page.get_by_role("button", name="Merge ticked labels…").click()
    merge = page.locator("#label-merge")
    merge.get_by_role("radio", name="“VIP”").check()
    merge.get_by_role("button", name="Merge into “VIP”").click()
    expect(merge).to_contain_text("Merge started")
    progress = page.locator("#label-activity .job-progress")
    expect(progress).to_contain_text("Done", timeout=30_000)
    expect(page.locator("#label-table")).not_to_contain_text("custom.lead")
    seen = page.evaluate("window.seen")
    assert seen["table"] - seen["done"] < 50  # the same answer brought both
    expect(progress).to_contain_text("added “VIP”")  # names, not keys, in the job's result
    expect(progress).not_to_contain_text("custom.")
    shot(page, "labels-merge-done")


# --- long names -------------------------------------------------------------------------------


def test_a_180_character_name_without_spaces_stays_on_screen(
    page, login, manager, synced, sandbox, task_worker
):
    synced()
    page.set_viewport_size({"width": 1280, "height": 900})
    login(manager)
    page.goto(LABELS_URL)
    name_box = page.get_by_label("Name", exact=True)
    name_box.fill(LONG_NAME)
    name_box.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Created “Springsale")).to_be_visible()
    no_horizontal_scroll(page)
    shot(page, "labels-long-name-created")
    made = Label.objects.get(display_name=LONG_NAME)

    page.goto(f"{LABELS_URL}label/{made.key}/")
    expect(page.locator("h1")).to_have_text(LONG_NAME)
    no_horizontal_scroll(page)
    shot(page, "label-page-long-name")

    page.goto(LABELS_URL)
    no_horizontal_scroll(page)
    target = row(page, made.key)
    target.get_by_role("button", name=f"Rename “{LONG_NAME}”").click()
    no_horizontal_scroll(page)
    target.get_by_role("button", name="Cancel").click()
    target.get_by_role("button", name=f"Delete “{LONG_NAME}”").click()
    no_horizontal_scroll(page)
    target.get_by_role("button", name="Delete label").click()
    expect(page.locator(".label-row.is-deleted")).to_contain_text("Deleted “Springsale")
    expect(page.locator("#label-deletions")).to_contain_text(LONG_NAME)
    no_horizontal_scroll(page)
    shot(page, "labels-long-name-deleted")

    page.locator(".label-row.is-deleted").get_by_role("button", name="Undo").click()
    restored = page.get_by_role("status").filter(has_text="Restored as a new label")
    expect(restored).to_contain_text("No contact had it, so there is nothing to give back.")
    no_horizontal_scroll(page)
    shot(page, "labels-long-name-restored")


def test_a_refreshing_region_does_not_light_up_the_indicators_inside_it(labels_page):
    page = labels_page
    target = row(page, "custom.vip")
    target.get_by_role("button", name="Delete “VIP”").click()
    target.get_by_role("button", name="Delete label").click()
    deletions = page.locator("#label-deletions")
    expect(deletions).to_contain_text("“VIP”")
    indicator = deletions.locator(".label-busy")
    # htmx marks a region that is being refreshed; only the indicator a request names shows.
    deletions.evaluate("element => element.classList.add('htmx-request')")
    expect(indicator).to_have_css("opacity", "0")
    indicator.evaluate("element => element.classList.add('htmx-request')")
    expect(indicator).to_have_css("opacity", "1")


# --- the label's note -------------------------------------------------------------------------


def test_a_manager_writes_a_note_and_picks_a_colour_by_keyboard(labels_page):
    page = labels_page
    label = Label.objects.filter(key__startswith="custom.").order_by("key").first()
    page.goto(f"/admin/labels/label/label/{quote(label.key, safe='')}/")
    description = page.get_by_label("What it is for")
    description.focus()
    page.keyboard.type("People who bought twice in a year.")
    page.keyboard.press("Tab")  # into the colours: arrows move between them, as in any radio group
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.get_by_label("Orange")).to_be_checked()
    tab_to(page, "Save note")
    page.keyboard.press("Enter")

    note = page.locator("#label-note")
    expect(note.get_by_role("status")).to_have_text("Note saved.")
    expect(note.locator(".label-note-text")).to_have_text("People who bought twice in a year.")
    expect(note.locator(".label-note-text .swatch-orange")).to_have_count(1)
    htmx_settled(page)
    shot(page, "label-note-saved")

    page.goto(LABELS_URL)
    line = row(page, label.key)
    expect(line.locator(".label-description")).to_have_text("People who bought twice in a year.")
    expect(line.locator(".swatch-orange")).to_have_count(1)
    shot(page, "labels-with-a-note")
