"""The contacts page in Chromium beyond the picker: shortcuts, ticking rows, sorting, signs of
work in progress, the table after a bulk job, long names, saved audiences."""

import re
import time
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from contacts.models import Audience
from contacts.segments import SegmentRules
from contacts.selectors import SORT_KEYS, contact_list_for_segment
from tests.contacts.conftest import CONTACTS_URL
from wixcache.models import Contact, ContactLabel, Label

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
AUDIENCES_URL = "/admin/contacts/audience/"
LONG_NAME = "Z" * 180


def results_settled(page) -> None:
    expect(page.locator("#results-busy")).not_to_have_class(re.compile("htmx-request"))


def first_row_emails(page, n: int) -> list[str]:
    cells = page.locator("#result_list tbody td.contact-email")
    return [cells.nth(i).inner_text() for i in range(n)]


def test_keyboard_shortcuts(contacts_page):
    page = contacts_page
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Go to labels")
    page.screenshot(path="/tmp/contacts-shortcuts.png")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.keyboard.press("/")
    search = page.locator("#id_q")
    expect(search).to_be_focused()
    # Typing in a field is typing, not a shortcut.
    page.keyboard.type("gl?")
    expect(search).to_have_value("gl?")
    expect(dialog).to_be_hidden()
    assert urlparse(page.url).path == CONTACTS_URL
    search.fill("")
    results_settled(page)
    page.keyboard.press("Tab")  # out of the field: shortcuts work again
    page.keyboard.press("g")
    page.keyboard.press("l")
    page.wait_for_url("**/admin/labels/label/")
    page.go_back()
    expect(page.locator("#contact-count")).to_be_visible()
    page.keyboard.press("g")
    page.keyboard.press("c")
    page.wait_for_url(f"**{CONTACTS_URL}")
    expect(page.locator("#contact-count")).to_have_text("300 contacts")


def test_tick_the_page_count_and_switch_between_ticked_and_all_matching(contacts_page):
    page = contacts_page
    count = page.locator("#ticked-count")
    ticked = page.get_by_role("radio", name=re.compile("^Ticked rows"))
    everyone = page.locator("#select-all-matching")
    expect(count).to_have_text("0")
    page_box = page.get_by_label("Tick every contact on this page")
    page_box.check()
    expect(count).to_have_text("25")
    rows = page.locator("#result_list tbody input[name=contact]")
    expect(rows.nth(24)).to_be_checked()
    rows.nth(3).uncheck()
    expect(count).to_have_text("24")
    assert page_box.evaluate("box => box.indeterminate")

    everyone.check()
    expect(everyone.locator("xpath=..")).to_have_text("All 300 matching")
    # "All matching" stays chosen when the rules change, with the new count.
    total = contact_list_for_segment(rules=SegmentRules(search="an")).count()
    page.locator("#id_q").fill("an")
    expect(page.locator("#contact-count")).to_have_text(f"{total} contacts")
    expect(page.locator("#select-all-matching")).to_be_checked()
    expect(page.locator("#select-all-matching").locator("xpath=..")).to_have_text(
        f"All {total} matching"
    )
    # Ticking a row means the ticked rows.
    page.locator("#result_list tbody input[name=contact]").first.check()
    expect(ticked).to_be_checked()
    expect(count).to_have_text("1")
    page.screenshot(path="/tmp/contacts-ticked.png")


def test_sort_by_created_newest_first_and_page_on(contacts_page):
    page = contacts_page
    everyone = list(
        Contact.objects.order_by("-remote_created_at", "-wix_id").values_list("email", flat=True)
    )
    header = page.get_by_role("columnheader", name=re.compile("^Created"))
    expect(header).to_have_attribute("aria-sort", "ascending")
    header.get_by_role("link").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(page).to_have_url(re.compile(r"sort=-created"))
    assert first_row_emails(page, 3) == everyone[:3]
    page.get_by_role("link", name=re.compile("^Next")).click()
    expect(page.locator(".page-position")).to_have_text(re.compile("Page 2 of"))
    assert first_row_emails(page, 2) == everyone[25:27]
    page.get_by_role("link", name=re.compile("Previous")).click()
    expect(page.locator(".page-position")).to_have_text(re.compile("Page 1 of"))
    assert first_row_emails(page, 1) == everyone[:1]
    # A change of rules keeps the order.
    want = list(
        contact_list_for_segment(rules=SegmentRules(search="an"))
        .order_by("-remote_created_at", "-wix_id")
        .values_list("email", flat=True)
    )
    page.locator("#id_q").fill("an")
    expect(page.locator("#contact-count")).to_have_text(f"{len(want)} contacts")
    expect(page).to_have_url(re.compile(r"sort=-created"))
    assert first_row_emails(page, 2) == want[:2]


def test_sort_by_name_and_by_email_from_the_headers_by_keyboard(contacts_page):
    page = contacts_page
    by_name = SORT_KEYS["name"]
    names = list(Contact.objects.order_by(by_name.asc(), "wix_id").values_list("email", flat=True))
    emails = list(
        Contact.objects.order_by(SORT_KEYS["email"].desc(), "-wix_id").values_list(
            "email", flat=True
        )
    )
    name_header = page.get_by_role("columnheader", name=re.compile("^Name"))
    expect(name_header).not_to_have_attribute("aria-sort", re.compile("."))
    name_header.get_by_role("link").focus()
    page.keyboard.press("Enter")
    expect(name_header).to_have_attribute("aria-sort", "ascending")
    expect(page).to_have_url(re.compile(r"sort=name"))
    assert first_row_emails(page, 3) == names[:3]
    page.get_by_role("link", name=re.compile("^Next")).click()
    expect(page.locator(".page-position")).to_have_text(re.compile("Page 2 of"))
    assert first_row_emails(page, 2) == names[25:27]
    # Email, then Email again: Z to A, and the created column no longer claims the order.
    email_header = page.get_by_role("columnheader", name=re.compile("^Email"))
    email_header.get_by_role("link").click()
    expect(email_header).to_have_attribute("aria-sort", "ascending")
    email_header.get_by_role("link").click()
    expect(email_header).to_have_attribute("aria-sort", "descending")
    expect(page).to_have_url(re.compile(r"sort=-email"))
    expect(page.locator(".page-position")).to_have_text(re.compile("Page 1 of"))
    assert first_row_emails(page, 3) == emails[:3]
    expect(name_header).not_to_have_attribute("aria-sort", re.compile("."))
    created = page.get_by_role("columnheader", name=re.compile("^Created"))
    expect(created).not_to_have_attribute("aria-sort", re.compile("."))
    page.screenshot(path="/tmp/contacts-sorted-by-email.png")


def test_apply_shows_work_in_progress_and_the_table_follows_done_at_once(
    contacts_page, contacts_site, task_worker
):
    page = contacts_page
    target = Label.objects.get(display_name="Wholesale")
    first = list(Contact.objects.order_by("remote_created_at", "wix_id")[:3])
    lacking = [c for c in first if not c.labels.filter(pk=target.pk).exists()]
    assert lacking
    for contact in first:
        page.locator(f'#result_list input[name=contact][value="{contact.wix_id}"]').check()
    page.locator("#picker-add").fill("Wholesale")
    page.locator("#picker-add").press("Enter")
    expect(page.locator("#chips-add")).to_contain_text("Wholesale")
    page.get_by_role("button", name="Preview change").click()
    apply = page.get_by_role("button", name=re.compile("^Apply to"))
    expect(apply).to_have_text(f"Apply to {len(lacking)} contact{'s' if len(lacking) > 1 else ''}")

    held = []
    page.route("**/bulk/start/", lambda route: held.append(route))
    apply.click()
    # While the request runs: the button is greyed out and cannot be pressed again; a spinner.
    expect(apply).to_be_disabled()
    expect(page.get_by_role("button", name="Preview change")).to_be_disabled()
    expect(page.locator("#bulk-start-busy")).to_have_class(re.compile("htmx-request"))
    page.screenshot(path="/tmp/contacts-applying.png")
    for route in held:
        route.continue_()
    page.unroute("**/bulk/start/")

    box = page.locator("#bulk-panel .job-progress")
    expect(box).to_contain_text("Done", timeout=30_000)
    done_at = time.monotonic()
    row = page.locator("#result_list tbody tr").filter(
        has=page.locator(f'input[value="{lacking[0].wix_id}"]')
    )
    expect(row.locator(".contact-labels")).to_contain_text("Wholesale", timeout=2_000)
    followed = time.monotonic() - done_at
    print(f"the table followed Done after {followed:.3f}s")
    assert followed < 1.0, "the table took a second or more to follow"
    assert ContactLabel.objects.filter(contact=lacking[0], label=target).exists()


def test_long_names_wrap_and_remove_chips_look_like_chips(page, login, contacts_site, boss):
    long = Label.objects.create(key="custom.long", display_name=LONG_NAME, namespace="custom")
    contact = Contact.objects.order_by("remote_created_at", "wix_id").first()
    ContactLabel.objects.create(contact=contact, label=long)
    login(boss)
    page.goto(f"{CONTACTS_URL}?all=custom.long")
    expect(page.locator("#contact-count")).to_have_text("1 contact")
    page.locator("#picker-remove").fill("ZZZZ")
    page.locator("#picker-remove").press("Enter")
    chip = page.locator("#chips-remove .chip")
    expect(chip).to_contain_text(LONG_NAME)
    page.get_by_role("button", name="Preview change").click()  # nothing ticked: a message
    page.get_by_label("All 1 matching").check()
    page.get_by_role("button", name="Preview change").click()
    expect(page.locator("#bulk-panel")).to_contain_text(LONG_NAME)

    def overflowing() -> bool:
        return page.evaluate(
            "document.documentElement.scrollWidth > document.documentElement.clientWidth"
        )

    assert not overflowing(), "a long name pushes the contacts page sideways"
    style = chip.evaluate(
        "el => [getComputedStyle(el).backgroundColor, getComputedStyle(el).borderRadius]"
    )
    assert style[0] not in ("rgba(0, 0, 0, 0)", "transparent"), style
    assert style[1] != "0px", style
    page.screenshot(path="/tmp/contacts-long-names.png", full_page=True)

    page.goto(f"{CONTACTS_URL}{contact.pk}/change/")
    expect(page.locator("#contact-labels")).to_contain_text(LONG_NAME)
    assert not overflowing(), "a long name pushes the contact page sideways"


def test_audiences_list_opens_summarises_and_duplicates(page, login, contacts_site, boss):
    lead, vip, unsubscribed = (
        Label.objects.get(display_name=name) for name in ("Lead", "VIP", "Newsletter")
    )
    rules = SegmentRules(all_of=(lead.key, vip.key), none_of=(unsubscribed.key,), search="anna")
    audience = Audience.objects.create(
        name="VIP customers", description="Best buyers", rules=rules.as_json(), created_by=boss
    )
    login(boss)
    page.goto(AUDIENCES_URL)
    expect(page.locator("h1")).to_have_text("Audiences")
    row = page.locator("#result_list tbody tr").filter(has_text="VIP customers")
    expect(row.locator("td.field-rules_")).to_have_text(
        "ALL of Lead, VIP · NONE of Newsletter · search “anna”"
    )
    duplicate = row.get_by_role("button", name="Duplicate")
    expect(duplicate).to_have_class(re.compile(r"\bbutton\b"))
    expect(row.get_by_role("link", name="Edit name")).to_have_attribute(
        "href", f"{AUDIENCES_URL}{audience.pk}/change/"
    )
    page.screenshot(path="/tmp/audiences-list.png")

    # The name opens the audience on the contacts page; its results start above the fold.
    row.get_by_role("link", name="VIP customers").click()
    expect(page.locator("h1")).to_have_text("Audience: VIP customers")
    expect(page.locator("ol.breadcrumbs li")).to_have_text(["Home", "Audiences", "VIP customers"])
    viewport = page.viewport_size["height"]
    assert page.locator(".results-bar").bounding_box()["y"] < viewport - 200
    page.screenshot(path="/tmp/audience-page.png")

    page.goto(AUDIENCES_URL)
    page.locator("#result_list tbody tr").filter(has_text="VIP customers").get_by_role(
        "button", name="Duplicate"
    ).click()
    expect(page.locator("h1")).to_have_text("Audience: VIP customers (copy)")
    assert Audience.objects.filter(name="VIP customers (copy)").exists()


def test_saving_shows_it_is_working_and_cannot_be_pressed_twice(page, login, contacts_site, boss):
    lead = Label.objects.get(display_name="Lead")
    rules = SegmentRules(all_of=(lead.key,))
    audience = Audience.objects.create(name="Leads", rules=rules.as_json(), created_by=boss)
    login(boss)
    page.goto(f"{CONTACTS_URL}?{rules.querystring(audience=audience.pk)}")
    held = []

    def hold(route):
        held.append(route)  # Wix (or the server) is slow: no answer until the test says so

    # "Save as Wix label": Preview, then Save, each busy while it runs.
    page.get_by_text("Save as Wix label", exact=True).click()
    page.route("**/wix-label/**", hold)
    preview = page.get_by_role("button", name="Preview", exact=True)
    preview.click()
    expect(preview).to_be_disabled()
    expect(page.locator("#wix-preview-busy")).to_have_class(re.compile("htmx-request"))
    held.pop().continue_()
    save = page.get_by_role("button", name="Save as Wix label")
    expect(save).to_be_enabled()
    save.click()
    expect(save).to_be_disabled()
    expect(page.locator("#wix-save-busy")).to_have_class(re.compile("htmx-request"))
    page.screenshot(path="/tmp/contacts-wix-label-busy.png")
    held.pop().continue_()
    expect(page.locator("#wix-label .job-progress")).to_be_visible()
    page.unroute("**/wix-label/**")

    # Saving the audience: both buttons wait for the answer.
    page.get_by_text("Save changes to this audience").click()
    page.route("**/audience/save/", hold)
    page.get_by_role("button", name="Save changes", exact=True).click()
    expect(page.get_by_role("button", name="Save changes", exact=True)).to_be_disabled()
    expect(page.get_by_role("button", name="Save as new audience")).to_be_disabled()
    expect(page.locator("#save-busy")).to_have_class(re.compile("htmx-request"))
    held.pop().continue_()
    expect(page.locator(".messagelist")).to_contain_text("Audience “Leads” updated.")
    page.unroute("**/audience/save/")
