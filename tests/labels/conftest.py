"""The labels page opened in Chromium by a label manager, for the browser tests of this folder."""

import pytest
from playwright.sync_api import expect

from tests.labels.pages import LABELS_URL


@pytest.fixture
def labels_page(page, login, manager, synced):
    synced()
    login(manager)
    page.goto(LABELS_URL)
    expect(page.get_by_role("heading", name="Labels", exact=True)).to_be_visible()
    return page
