"""The contacts page in Chromium over a synced sandbox of 300 contacts, for this folder's tests."""

import pytest
from playwright.sync_api import expect

from sync.service import sync_wix
from tests.fixtures.users import make_user

CONTACTS_URL = "/admin/contacts/contact/"


@pytest.fixture
def contacts_site(wix_settings, sandbox, sync_client):
    """The sandbox with 300 contacts and 12 labels, and the cache equal to it."""
    sandbox.reset(contacts=300, labels=12, seed=11)
    sync_wix(kind="full", client=sync_client)
    return sandbox


@pytest.fixture
def boss(transactional_db):
    return make_user("boss", superuser=True)


@pytest.fixture
def contacts_page(page, login, contacts_site, boss):
    login(boss)
    page.goto(CONTACTS_URL)
    expect(page.locator("#contact-count")).to_have_text("300 contacts")
    return page
