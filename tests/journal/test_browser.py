"""In Chromium: a Marketing member reads the history and narrows it to one kind of change."""

import pytest
from playwright.sync_api import expect

from journal.models import Operation, OperationRef

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Kind, State, Ref = Operation.Kind, Operation.State, OperationRef.Kind
SCREENSHOT = "/tmp/history.png"


def test_a_marketer_filters_the_history_by_kind(page, login, marketer, manager, make_operation):
    make_operation(
        "Created label “<b>Ärzte & Co</b>”.",
        user=marketer,
        refs=[(Ref.LABEL, "custom.arzte-co", "<b>Ärzte & Co</b>")],
    )
    make_operation(
        "Renamed label “VIP Kunden” to “VIP”.",
        kind=Kind.LABEL_RENAME,
        user=manager,
        refs=[(Ref.LABEL, "custom.vip-kunden", "VIP")],
    )
    make_operation(
        "Gave Anna Berg the label “VIP”.",
        kind=Kind.CONTACT_LABELS,
        state=State.FAILED,
        user=marketer,
        outcome="Wix refused: the contact was deleted meanwhile.",
        refs=[
            (Ref.CONTACT, "c0ffee00-0000-4000-8000-000000000001", "Anna Berg"),
            (Ref.LABEL, "custom.vip-kunden", "VIP"),
        ],
    )
    make_operation("Synced with Wix: 2 labels, 40 contacts.", kind=Kind.SYNC)
    make_operation(
        "Merged labels “VIP” into “VIP”.",
        kind=Kind.LABEL_MERGE,
        state=State.REVERSED,
        user=manager,
        refs=[(Ref.LABEL, "custom.vip", "VIP"), (Ref.LABEL, "custom.vip-1", "VIP")],
    )

    login(marketer)
    page.goto("/admin/")
    page.locator(".start-pages").get_by_role("link", name="History").click()
    rows = page.locator("tr.history-row")
    expect(rows).to_have_count(5)
    expect(page.get_by_text("Created label “<b>Ärzte & Co</b>”.")).to_be_visible()

    page.get_by_label("Kind").select_option(label="Rename label")
    page.get_by_role("button", name="Filter").press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Renamed label “VIP Kunden” to “VIP”.")
    expect(rows.first).to_contain_text("manager")
    expect(rows.first).to_contain_text("Done")
    expect(page.locator(".history-count")).to_have_text("1 change matches these filters")
    assert page.url.endswith("?person=&kind=label_rename&state=&date_from=&date_to=")
    page.screenshot(path=SCREENSHOT, full_page=True)

    page.get_by_label("Kind").select_option(label="Any change")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(5)


def test_a_180_character_name_wraps_in_the_history(page, login, manager, make_operation):
    long_name = "Springsale" * 18  # 180 characters, no space
    make_operation(
        f"Merged labels “{long_name}” into “VIP”.",
        kind=Kind.LABEL_MERGE,
        user=manager,
        refs=[(Ref.LABEL, "custom.springsale", long_name), (Ref.LABEL, "custom.vip", "VIP")],
    )
    login(manager)
    page.goto("/admin/journal/operation/")
    expect(page.locator("tr.history-row")).to_have_count(1)
    # Nothing is pushed past the window: the page is no wider than it.
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1]
    page.screenshot(path="/tmp/history-long-name.png")
