"""Wix data that does not fit the cache is contained: stored as well as it can be, or set aside
with a reason on the run; the run and the webhook go on. Bad settings fail at start-up, plainly,
and never show a credential."""

import pytest
from django.core.checks import run_checks

from labelsite.errors import ReporterFilter
from labelsite.wix import WixConfig, WixConfigurationError
from labelsite.wix.records import decode_contacts_page
from sync.models import SyncRun
from sync.service import sync_wix
from tests.fixtures.webhooks import WIX_PUBLIC_PEM, signed
from wixcache.models import Contact

pytestmark = pytest.mark.django_db

GOOD = b'{"id":"c1","revision":1,"createdDate":"2025-01-01T00:00:00.000Z"}'
NO_DATE = b'{"id":"c2","revision":1}'
BAD_TYPE = b'{"id":"c3","revision":"one","createdDate":"2025-01-01T00:00:00.000Z"}'


def test_one_unreadable_contact_does_not_cost_the_page():
    page = decode_contacts_page(
        b'{"contacts":[' + b",".join([GOOD, NO_DATE, BAD_TYPE]) + b'],"pagingMetadata":'
        b'{"count":3,"offset":0,"total":3}}'
    )
    assert [c.id for c in page.contacts] == ["c1"]
    assert [s.id for s in page.set_aside] == ["c2", "c3"]
    assert "createdDate" in page.set_aside[0].reason
    assert "revision" in page.set_aside[1].reason
    assert page.total == 3


def test_a_contact_whose_id_or_label_key_holds_a_nul_is_set_aside_not_stored_under_a_cut_id():
    nul_id = b'{"id":"abc\\u0000zzz","revision":1,"createdDate":"2025-01-01T00:00:00.000Z"}'
    nul_key = (
        b'{"id":"c4","revision":1,"createdDate":"2025-01-01T00:00:00.000Z",'
        b'"info":{"labelKeys":{"items":["custom.a\\u0000b"]}}}'
    )
    same_start = b'{"id":"abc","revision":1,"createdDate":"2025-01-01T00:00:00.000Z"}'
    page = decode_contacts_page(
        b'{"contacts":[' + b",".join([nul_id, GOOD, nul_key, same_start]) + b"]}"
    )
    assert [c.id for c in page.contacts] == ["c1", "abc"]
    assert [s.id for s in page.set_aside] == ["abc\\x00zzz", "c4"]  # as the run shows it
    assert all("NUL character" in s.reason for s in page.set_aside)


def test_a_name_longer_than_the_cache_keeps_is_stored_in_part_and_noted(sandbox, sync_client):
    sandbox.reset(contacts=20, labels=2, seed=31)
    long_name = "Bartholomew" * 30  # 330 characters: Wix allows it, the cache keeps 255
    made = sandbox.api(
        "POST", "/contacts/v4/contacts", json={"info": {"name": {"first": long_name}}}
    ).json()["contact"]

    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert Contact.objects.count() == 21
    assert Contact.objects.get(wix_id=made["id"]).first_name == long_name[:255]
    assert run.notes == [
        {
            "id": made["id"],
            "reason": "first name longer than 255 characters; the first 255 are kept",
        }
    ]


def test_a_nul_in_a_name_is_taken_out_and_noted_and_the_rest_kept_as_wix_has_it(
    sandbox, sync_client
):
    sandbox.reset(contacts=5, labels=2, seed=32)
    made = sandbox.api(
        "POST",
        "/contacts/v4/contacts",
        json={"info": {"name": {"first": 'Zoë\x00 😀 <b>"O\'Neil"</b>', "last": "\\x"}}},
    ).json()["contact"]

    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)

    assert run.status == SyncRun.Status.SUCCEEDED
    stored = Contact.objects.get(wix_id=made["id"])
    assert (stored.first_name, stored.last_name) == ('Zoë 😀 <b>"O\'Neil"</b>', "\\x")
    assert run.notes == [
        {
            "id": made["id"],
            "reason": "first name held NUL characters, which the cache cannot keep; taken out",
        }
    ]


def test_a_webhook_with_an_overlong_name_is_applied_not_a_server_error(client, settings):
    settings.WIX_WEBHOOK_PUBLIC_KEY = WIX_PUBLIC_PEM
    entity = {
        "id": "c-long",
        "revision": 1,
        "createdDate": "2025-02-01T00:00:00.000Z",
        "info": {"name": {"first": "x" * 400, "last": "y" * 400}},
        "primaryInfo": {"phone": "1" * 100},
    }
    token = signed("wix.contacts.v4.contact_created", "c-long", slug="created", entity=entity)
    response = client.post("/wix/webhooks/", data=token, content_type="text/plain")
    assert response.status_code == 200
    stored = Contact.objects.get(wix_id="c-long")
    assert (len(stored.first_name), len(stored.last_name), len(stored.phone)) == (255, 255, 64)


@pytest.mark.parametrize("key", ["the-key\n", " the-key", "the key", "the-key\t", "the-key\x00"])
def test_an_api_key_with_whitespace_is_a_configuration_error_that_never_shows_it(key):
    with pytest.raises(WixConfigurationError) as error:
        WixConfig(base_url="https://www.wixapis.com", api_key=key, site_id="site")
    assert "WIX_API_KEY" in str(error.value)
    assert "the-key" not in str(error.value)


def test_start_up_checks_name_the_setting(settings):
    settings.WIX_API_KEY = "secret-key-value\n"
    settings.WIX_SITE_ID = "site"
    messages = [m for m in run_checks() if m.id.startswith("labelsite.")]
    assert [m.id for m in messages] == ["labelsite.E001"]
    assert "WIX_API_KEY" in messages[0].msg
    assert "secret-key-value" not in messages[0].msg

    settings.WIX_API_KEY = "secret-key-value"
    assert not [m for m in run_checks() if m.id.startswith("labelsite.")]


def test_the_debug_page_hides_database_urls_and_keys():
    reporter = ReporterFilter()
    for name in ("DATABASE_URL", "WIX_API_KEY", "WIX_APP_SECRET", "SENTRY_DSN"):
        cleaned = reporter.cleanse_setting(name, "postgres://labelsite:hunter2@db/labelsite")
        assert "hunter2" not in str(cleaned), name
    assert reporter.cleanse_setting("WIX_SITE_ID", "site") == "site"
