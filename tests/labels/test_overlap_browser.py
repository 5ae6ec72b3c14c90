"""How labels overlap, in Chromium: opened from the labels page by keyboard, read in the light
and the dark theme, and a cell followed to its audience, whose count is the cell's."""

import os

import pytest
from playwright.sync_api import expect

from labels.selectors import label_overlap
from tests.labels.pages import LABELS_URL

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("SCREENSHOTS_DIR")  # set it to look at the pages as PNGs


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_open_the_overlap_map_and_follow_a_cell_to_its_audience(
    page, login, synced, marketer, scheme
):
    synced(contacts=200, labels=10)
    overlap = label_overlap(size=12)
    a, b = overlap.labels[0], overlap.labels[1]
    shared = overlap.pair(a, b)
    page.emulate_media(color_scheme=scheme)
    login(marketer)
    page.goto(LABELS_URL)

    summary = page.get_by_text("How labels overlap", exact=True)
    summary.focus()
    page.keyboard.press("Enter")  # opens the <details>; the map loads
    chart = page.locator(".overlap-map")
    expect(chart).to_be_visible()
    expect(chart.locator(".overlap-cell")).to_have_count(len(overlap.labels) ** 2)
    if SHOTS:
        page.locator(".labels-overlap-panel").screenshot(path=f"{SHOTS}/overlap-{scheme}.png")

    said = f"{a.display_name} and {b.display_name}: {shared:,} contacts have both"
    cell = chart.locator(f'a[aria-label^="{said}"]')
    cell.focus()
    page.keyboard.press("Enter")

    expect(page.locator("#contact-count")).to_have_text(
        f"{shared:,} contact{'s' if shared != 1 else ''}"
    )
    chips = page.locator("#segment-rules .chip-in-all")
    expect(chips).to_have_count(2)
    expect(chips).to_contain_text([a.display_name, b.display_name])


def test_the_same_numbers_as_a_table(page, login, synced, marketer):
    synced(contacts=80, labels=10)
    overlap = label_overlap(size=6)
    login(marketer)
    page.goto("/admin/labels/label/overlap/?size=6")
    page.get_by_text("The same numbers as a table").click()
    table = page.locator(".overlap-table table")
    expect(table.locator("tbody tr")).to_have_count(len(overlap.labels))
    first = overlap.labels[0]
    expect(table.locator("tbody tr").first.locator("th")).to_have_text(first.display_name)
    expect(table.locator("tbody tr").first.locator("td").first).to_have_text(
        f"{first.contact_count:,}"
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_labels_weeks_as_bars_and_as_a_table(page, login, synced, marketer, scheme):
    from wixcache.models import ContactLabel

    synced(contacts=120, labels=6)
    label = label_overlap(size=1).labels[0]
    holders = ContactLabel.objects.filter(label_id=label.pk).count()
    page.emulate_media(color_scheme=scheme)
    login(marketer)
    page.goto(f"/admin/labels/label/label/{label.key}/")

    weeks = page.locator(".label-weeks")
    expect(weeks.locator(".weeks-chart .weeks-gained")).to_have_count(1)  # the sync's week
    expect(weeks).to_contain_text(f"{holders:,} gained, 0 lost")
    if SHOTS:
        weeks.screenshot(path=f"{SHOTS}/weeks-{scheme}.png")
    weeks.get_by_text("The same numbers as a table").click()
    expect(weeks.locator("tbody tr")).to_have_count(12)
    expect(weeks.locator("tbody tr").last.locator("td").first).to_have_text(f"{holders:,}")
