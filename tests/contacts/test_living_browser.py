"""A living label in Chromium: kept from an audience's page, brought up to date by the real
worker (checked in the sandbox over HTTP), looked at, and stopped."""

import pytest
from playwright.sync_api import expect

from contacts.models import Audience, LivingLabel
from contacts.segments import SegmentRules
from tests.contacts.conftest import CONTACTS_URL
from tests.fixtures.browser import shot
from tests.fixtures.sandbox_data import wix_contacts_with
from tests.labels.pages import LABELS_URL
from wixcache.models import Label

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_keep_an_audience_as_a_living_label_then_stop(
    page, login, contacts_site, boss, task_worker, sandbox
):
    source = Label.objects.filter(label_type=Label.Type.USER_DEFINED).order_by("key").first()
    rules = SegmentRules(all_of=(source.key,))
    audience = Audience.objects.create(name="Fans", rules=rules.as_json(), created_by=boss)
    members = wix_contacts_with(sandbox, source.key)
    login(boss)
    page.goto(f"{CONTACTS_URL}?audience={audience.pk}")

    page.get_by_text("Keep as a living Wix label", exact=True).click()
    name = page.locator("#id_living_name")
    name.fill("Fans (living)")
    name.press("Enter")
    preview = page.locator(".living-slot .preview")
    expect(preview).to_contain_text(f"{len(members)} contacts will get it")
    keep = page.get_by_role("button", name="Keep “Fans (living)” living")
    expect(keep).to_be_focused()  # the keyboard goes on from the preview, not from the top
    keep.press("Enter")
    panel = page.locator("#living-panel")
    expect(panel).to_contain_text("Kept in Wix as “Fans (living)”")
    expect(panel.locator("[role=status]")).to_be_focused()
    expect(panel).to_contain_text("0 changes pending", timeout=30_000)
    expect(panel.locator("[role=status]")).to_be_focused()  # kept through the panel's refreshes
    key = LivingLabel.objects.get().label_key
    assert wix_contacts_with(sandbox, key) == members
    shot(page, "living-label")

    # The labels page says which audience keeps the label, and leads back to it.
    page.goto(f"{LABELS_URL}?q=Fans")
    mark = page.locator(".label-living-mark")
    expect(mark).to_have_text(
        "Living: the audience “Fans” keeps it equal to itself; its next update undoes changes by "
        "hand"
    )
    shot(page, "labels-living")
    mark.get_by_role("link", name="the audience “Fans”").click()
    panel = page.locator("#living-panel")
    expect(panel).to_contain_text("Kept in Wix as “Fans (living)”")

    panel.get_by_text("Stop keeping it…").click()
    panel.get_by_role("button", name="Stop keeping “Fans (living)”").click()
    expect(page.locator("#living-panel")).to_contain_text("Stopped. The label stays in Wix")
    expect(page.get_by_text("Stopped. The label stays in Wix")).to_be_focused()
    assert not LivingLabel.objects.exists()
    assert wix_contacts_with(sandbox, key) == members
