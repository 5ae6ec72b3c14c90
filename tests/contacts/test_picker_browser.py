"""The label picker in Chromium, by keyboard as a person in a hurry uses it: the contacts page's
ALL/ANY/NONE groups and the contact page."""

import re
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from contacts.segments import SegmentRules
from contacts.selectors import contact_count_for_segment
from tests.contacts.conftest import CONTACTS_URL
from tests.fixtures.users import make_user
from wixcache.models import Contact, Label

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def key_of(name: str) -> str:
    return Label.objects.get(display_name=name).key


def count_text(n: int) -> str:
    return f"{n:,} contact{'s' if n != 1 else ''}"


def results_settled(page) -> None:
    expect(page.locator("#results-busy")).not_to_have_class(re.compile("htmx-request"))


def options(page, group: str):
    return page.locator(f"#picker-{group}-list [role=option]")


def test_add_three_labels_to_all_of_without_touching_the_mouse(contacts_page):
    page = contacts_page
    # "/" goes to the search field; the ALL of field is six steps back (NONE of, ANY of, the
    # nested rule's "Add a condition" and "Add a group", and "Only contacts with no labels"
    # come between).
    page.keyboard.press("/")
    expect(page.locator("#id_q")).to_be_focused()
    for _ in range(6):
        page.keyboard.press("Shift+Tab")
    field = page.locator("#picker-all")
    expect(field).to_be_focused()
    expect(field).to_have_attribute("role", "combobox")
    expect(field).to_have_attribute("aria-expanded", "false")

    # 1. Type, ArrowDown reaches the suggestions, Enter picks the active one.
    page.keyboard.type("lea")
    expect(options(page, "all").first).to_contain_text("Lead")
    expect(field).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowDown")
    first = options(page, "all").first
    expect(first).to_have_attribute("aria-selected", "true")
    expect(field).to_have_attribute("aria-activedescendant", first.get_attribute("id"))
    page.keyboard.press("Enter")
    expect(page.locator("#chips-all")).to_contain_text("Lead")
    # The focus stays in the field, emptied, and the list is closed.
    expect(field).to_be_focused()
    expect(field).to_have_value("")
    expect(field).to_have_attribute("aria-expanded", "false")

    # 2. At once, while the results refresh: the exact name and Enter ("VIP", not "VIP Customer").
    page.keyboard.type("vip")
    page.keyboard.press("Enter")
    expect(page.locator("#chips-all .chip")).to_have_count(2)
    expect(page.locator("#chips-all")).to_contain_text("VIP")
    expect(page.locator("#chips-all")).not_to_contain_text("VIP Customer")
    expect(field).to_be_focused()

    # 3. ArrowDown and Enter again.
    page.keyboard.type("news")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#chips-all .chip")).to_have_count(3)
    expect(page.locator("#chips-all")).to_contain_text("Newsletter")
    expect(field).to_be_focused()

    rules = SegmentRules(all_of=(key_of("Lead"), key_of("VIP"), key_of("Newsletter")))
    expect(page.locator("#contact-count")).to_have_text(
        count_text(contact_count_for_segment(rules=rules))
    )
    results_settled(page)
    for key in rules.all_of:
        expect(page).to_have_url(re.compile(rf"all={re.escape(key)}"))
    page.screenshot(path="/tmp/picker-three-labels.png")

    # Shift+Tab reaches the last chip's remove button; Enter takes the label out, focus returns.
    page.keyboard.press("Shift+Tab")
    expect(page.locator("#chips-all .chip-x").last).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#chips-all .chip")).to_have_count(2)
    expect(field).to_be_focused()
    two = SegmentRules(all_of=(key_of("Lead"), key_of("VIP")))
    expect(page.locator("#contact-count")).to_have_text(
        count_text(contact_count_for_segment(rules=two))
    )


def test_best_match_first_with_counts_escape_and_leaving_the_field(contacts_page):
    page = contacts_page
    page.keyboard.press("/")
    for _ in range(5):
        page.keyboard.press("Shift+Tab")
    field = page.locator("#picker-any")
    expect(field).to_be_focused()
    page.keyboard.type("at")
    listed = options(page, "any")
    # A name starting with the text first, then a word starting with it, then the rest.
    expect(listed.locator(".picker-name")).to_have_text(
        ["At Risk", "Event Attendee", "Webinar Attendee"]
    )
    at_risk = Label.objects.get(display_name="At Risk")
    expect(listed.first.locator(".picker-count")).to_have_text(count_text(at_risk.contacts.count()))
    page.screenshot(path="/tmp/picker-open.png")

    # Escape closes the list and keeps the text; it does not list other labels.
    page.keyboard.press("Escape")
    expect(page.locator("#picker-any-list")).to_be_hidden()
    expect(field).to_have_attribute("aria-expanded", "false")
    expect(field).to_have_value("at")
    # ArrowDown opens it again on the same labels, the first one active.
    page.keyboard.press("ArrowDown")
    expect(page.locator("#picker-any-list")).to_be_visible()
    expect(listed.first).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowUp")  # wraps to the last
    expect(listed.last).to_have_attribute("aria-selected", "true")
    expect(field).to_have_attribute("aria-activedescendant", listed.last.get_attribute("id"))

    # Tab leaves the field, and the list closes.
    page.keyboard.press("Tab")
    expect(page.locator("#picker-none")).to_be_focused()
    expect(page.locator("#picker-any-list")).to_be_hidden()
    expect(field).to_have_attribute("aria-expanded", "false")

    # Back in the field with the list closed, Escape clears the text (and lists nothing).
    page.keyboard.press("Shift+Tab")
    expect(field).to_be_focused()
    page.keyboard.press("Escape")
    expect(field).to_have_value("")
    expect(page.locator("#picker-any-list")).to_be_hidden()

    # Text that matches nothing says so; a label already chosen is not offered again.
    page.keyboard.type("zzz")
    expect(page.locator("#picker-any-status")).to_have_text("No label matches “zzz”.")
    expect(page.locator("#picker-any-status")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.type("at risk")
    page.keyboard.press("Enter")
    expect(page.locator("#chips-any")).to_contain_text("At Risk")
    page.keyboard.type("at")
    expect(listed.locator(".picker-name")).to_have_text(["Event Attendee", "Webinar Attendee"])
    # ...nor in another group of the same audience.
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    page.keyboard.type("at")
    expect(options(page, "none").locator(".picker-name")).to_have_text(
        ["Event Attendee", "Webinar Attendee"]
    )


def test_a_results_refresh_in_flight_does_not_lose_the_suggestions(contacts_page):
    page = contacts_page
    held, holding = [], [True]

    def results_request(url: str) -> bool:
        return urlparse(url).path == CONTACTS_URL

    def hold(route):
        if holding[0] and route.request.headers.get("hx-request"):
            held.append(route)  # answered only when the test says so
        else:
            route.continue_()

    page.route(results_request, hold)
    page.evaluate("document.getElementById('picker-all').dataset.mark = 'kept'")
    page.locator("#id_q").press_sequentially("an")
    page.wait_for_timeout(600)  # the search's own delay: its request is now waiting
    assert held, "the search did not ask for the results"

    for _ in range(6):  # from the search field back to ALL of
        page.keyboard.press("Shift+Tab")
    expect(page.locator("#picker-all")).to_be_focused()
    page.keyboard.type("lea")
    expect(options(page, "all").first).to_contain_text("Lead")
    page.keyboard.press("Enter")
    expect(page.locator("#chips-all")).to_contain_text("Lead")

    holding[0] = False
    for route in held:
        route.continue_()
    rules = SegmentRules(all_of=(key_of("Lead"),), search="an")
    expect(page.locator("#contact-count")).to_have_text(
        count_text(contact_count_for_segment(rules=rules))
    )
    # The same field, never replaced: it still has what was set on it.
    expect(page.locator("#picker-all")).to_have_attribute("data-mark", "kept")


def test_contact_page_labels_by_keyboard_with_a_slow_wix(page, login, contacts_site, sandbox):
    contact = Contact.objects.order_by("pk").first()
    lacking = list(
        Label.objects.filter(namespace="custom")
        .exclude(contacts=contact)
        .order_by("display_name")[:2]
    )
    login(make_user("boss", superuser=True))
    page.goto(f"{CONTACTS_URL}{contact.pk}/change/")
    sandbox.set_faults("late_answers=700ms")

    page.keyboard.press("/")  # on this page "/" goes to the label field
    field = page.locator("#picker-contact")
    expect(field).to_be_focused()
    page.keyboard.type(lacking[0].display_name)
    page.keyboard.press("Enter")
    # While Wix takes its time the field says it is working.
    expect(page.locator("#picker-contact-busy")).to_have_class(re.compile("htmx-request"))
    expect(page.locator("#contact-labels .chips")).to_contain_text(lacking[0].display_name)
    expect(field).to_be_focused()
    # The next label at once: a new key came with the answer, so it is a new change.
    page.keyboard.type(lacking[1].display_name)
    page.keyboard.press("Enter")
    expect(page.locator("#contact-labels .chips")).to_contain_text(lacking[1].display_name)
    expect(page.locator("#contact-history")).to_contain_text(
        f"Added label “{lacking[1].display_name}”"
    )
    expect(field).to_be_focused()
    page.screenshot(path="/tmp/picker-contact.png")
    remote = {c["id"]: c["labelKeys"] for c in sandbox.dump()["contacts"]}
    assert {lacking[0].key, lacking[1].key} <= set(remote[contact.wix_id])

    # Shift+Tab reaches the last chip's remove button; Enter removes it and the focus comes back.
    page.keyboard.press("Shift+Tab")
    removing = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert removing.startswith("Remove label ")
    page.keyboard.press("Enter")
    expect(page.locator("#contact-labels [role=status]")).to_contain_text("Removed label")
    expect(field).to_be_focused()
    sandbox.set_faults("")


def test_a_session_that_ended_is_told_not_taken_for_no_match(contacts_page):
    page = contacts_page
    page.context.clear_cookies()  # the session ends while the page is open
    picker = page.locator("#picker-all")
    picker.fill("vip")
    status = page.locator("#picker-all").locator("xpath=ancestor::*[@data-picker][1]")
    expect(status).to_contain_text("You are logged out. Reload the page to log in again.")
    expect(status).not_to_contain_text("No label matches")


def test_enter_never_picks_a_label_found_only_by_its_description(contacts_page):
    from labels.models import LabelNote

    page = contacts_page
    LabelNote.objects.create(key=key_of("Lead"), description="Zebra campaign sign-ups")
    field = page.locator("#picker-all")
    field.focus()
    page.keyboard.type("zebra")
    page.keyboard.press("Enter")

    only = options(page, "all")
    expect(only).to_have_count(1)
    expect(only.first).to_contain_text("Zebra campaign sign-ups")
    expect(page.locator("#picker-all-status")).to_have_text(
        "One label matches by its description: press Enter again to choose it."
    )
    expect(page.locator("#chips-all .chip")).to_have_count(0)
    page.keyboard.press("Enter")  # now it is chosen on purpose
    expect(page.locator("#chips-all")).to_contain_text("Lead")
