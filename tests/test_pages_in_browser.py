"""Every main page, opened in Chromium: no Content-Security-Policy violation, no script error."""

import pytest
from django.urls import reverse

from sync.models import SyncRun
from sync.service import sync_wix
from tests.fixtures.users import make_user
from wixcache.models import Contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site_with_data(sandbox, sync_client):
    sandbox.reset(contacts=120, labels=12, seed=5)
    return sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)


def test_main_pages_load_without_policy_violations_or_script_errors(
    page, login, site_with_data, wix_settings
):
    boss = make_user("boss", superuser=True)
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    login(boss)
    contact = Contact.objects.first()
    urls = [
        reverse("admin:index"),
        reverse("admin:labels_label_changelist"),
        reverse("admin:contacts_contact_changelist"),
        reverse("admin:contacts_contact_change", args=[contact.pk]),
        reverse("admin:contacts_audience_changelist"),
        reverse("admin:sync_syncrun_changelist"),
        reverse("admin:sync_syncrun_change", args=[site_with_data.pk]),
        reverse("admin:labels_labeljob_changelist"),
    ]
    for url in urls:
        response = page.goto(url)
        assert response.status == 200, url
        page.wait_for_load_state("networkidle")
    assert problems == []
