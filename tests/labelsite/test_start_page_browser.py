"""The start page and the error pages in Chromium, as people use them."""

import os
import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from sync.models import SyncDeletion, SyncRun
from wixcache.models import Contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = os.environ.get("SCREENSHOTS_DIR")  # set it to look at the pages as PNGs


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def test_the_start_page_leads_to_the_work(page, login, manager, synced):
    synced(contacts=40, labels=6)
    login(manager)
    pages = page.get_by_role("navigation", name="Main pages")
    expect(pages.get_by_role("link", name=re.compile(r"^Labels \d+ labels"))).to_be_visible()
    expect(pages.get_by_role("link", name=re.compile(r"^Contacts 40 contacts"))).to_be_visible()
    expect(
        pages.get_by_role("link", name=re.compile(r"^Audiences 0 saved audiences"))
    ).to_be_visible()
    sync = page.locator("#last-sync")
    expect(sync).to_contain_text("Contacts: 40 new, none changed, none deleted.")
    expect(sync.get_by_role("button", name="Sync now")).to_be_visible()
    expect(page.get_by_role("heading", name="Needs attention")).to_have_count(0)
    shot(page, "start-page")

    pages.get_by_role("link", name=re.compile("^Contacts")).click()
    expect(page).to_have_url(re.compile(reverse("admin:contacts_contact_changelist") + "$"))


def test_a_waiting_mass_delete_shows_on_the_start_page(page, login, manager, synced):
    synced(contacts=40, labels=6)
    waiting = SyncRun.objects.create(
        kind=SyncRun.Kind.FULL, status=SyncRun.Status.WAITING, error="Would delete 5."
    )
    SyncDeletion.objects.bulk_create(
        SyncDeletion(run=waiting, contact=contact) for contact in Contact.objects.all()[:5]
    )
    login(manager)
    attention = page.locator(".start-attention")
    expect(attention).to_contain_text("A full sync would delete 5 contacts that Wix no longer")
    shot(page, "start-page-attention")
    attention.get_by_role("link", name=f"Sync #{waiting.pk}").click()
    expect(page.get_by_role("button", name=re.compile("^Delete them"))).to_be_visible()


def test_the_error_pages_look_like_the_admin_and_lead_back(page, login, marketer):
    login(marketer)
    response = page.goto(reverse("admin:auth_user_changelist"))
    assert response.status == 403
    expect(page.get_by_role("heading", name="You may not open this page")).to_be_visible()
    expect(page.locator("#header")).to_contain_text("labelsite")
    shot(page, "403")
    page.get_by_role("link", name="Go to the start page").click()
    expect(page.get_by_role("navigation", name="Main pages")).to_be_visible()

    response = page.goto("/admin/no-such-page/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="This page does not exist")).to_be_visible()
    shot(page, "404")
