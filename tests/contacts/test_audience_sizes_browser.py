"""An audience's size over time in Chromium: opened by keyboard on the audience page, in the
light and the dark theme, the chart and its table."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from contacts.models import Audience, AudienceSize
from contacts.segments import SegmentRules
from tests.contacts.conftest import CONTACTS_URL
from tests.fixtures.browser import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_open_an_audiences_size_over_time(page, login, contacts_site, boss, scheme):
    audience = Audience.objects.create(name="Everyone", rules=SegmentRules().as_json())
    today = timezone.localdate()
    for back, n in ((20, 240), (12, 260), (5, 255), (0, 300)):
        AudienceSize.objects.create(
            audience=audience,
            day=today - timedelta(days=back),
            count=n,
            smallest=n - 10 if back == 5 else n,
            largest=n,
            counted_at=timezone.now(),
        )
    page.emulate_media(color_scheme=scheme)
    login(boss)
    page.goto(f"{CONTACTS_URL}?audience={audience.pk}")
    summary = page.get_by_text("Size over time", exact=True)
    summary.focus()
    page.keyboard.press("Enter")
    chart = page.locator(".sizes-chart")
    expect(chart).to_be_visible()
    expect(chart.locator(".sizes-dot")).to_have_count(4)
    expect(page.locator(".audience-sizes")).to_contain_text("300 contacts now.")
    page.get_by_text("As a table", exact=True).click()
    rows = page.locator(".sizes-table tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("300")
    expect(rows.nth(1)).to_contain_text("245")  # the day's smallest
    page.locator(".audience-sizes").scroll_into_view_if_needed()
    shot(page, f"audience-sizes-{scheme}")
