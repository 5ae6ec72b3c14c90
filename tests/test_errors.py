"""Errors answered to htmx are one plain sentence in the page's message area."""

import pytest
from django.http import Http404
from django.test import Client, RequestFactory
from django.urls import reverse
from django_htmx.middleware import HtmxDetails

from labelsite import errors
from tests.fixtures.users import HTMX, make_user


def htmx_request():
    request = RequestFactory().get("/", headers=HTMX)
    request.htmx = HtmxDetails(request)
    return request


@pytest.mark.django_db
def test_permission_denied_to_htmx_is_said_in_the_message_area(client):
    staff = make_user("plain")
    client.force_login(staff)
    response = client.post(reverse("admin:sync_syncrun_sync_now"), {"kind": "full"}, headers=HTMX)
    assert response.status_code == 403
    assert response["HX-Retarget"] == "#htmx-messages"
    assert response["HX-Reswap"] == "innerHTML"
    assert response.content.decode() == (
        '<p class="errornote">You do not have permission to do that. Nothing was changed.</p>'
    )


@pytest.mark.django_db
def test_permission_denied_without_htmx_is_a_page(client):
    client.force_login(make_user("plain"))
    response = client.post(reverse("admin:sync_syncrun_sync_now"), {"kind": "full"})
    assert response.status_code == 403
    assert "HX-Retarget" not in response
    assert "<h1>You may not open this page</h1>" in response.content.decode()


def test_not_found_and_server_error_for_htmx():
    missing = errors.page_not_found(htmx_request(), Http404())
    assert missing.status_code == 404
    assert "no longer there" in missing.content.decode()
    broken = errors.server_error(htmx_request())
    assert broken.status_code == 500
    assert broken["HX-Retarget"] == "#htmx-messages"
    assert "Nothing was changed" in broken.content.decode()
    assert "Traceback" not in broken.content.decode()


@pytest.mark.django_db
def test_a_stale_csrf_token_on_htmx_says_reload(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(reverse("admin:sync_syncrun_sync_now"), {"kind": "full"}, headers=HTMX)
    assert response.status_code == 403
    assert response["HX-Retarget"] == "#htmx-messages"
    assert "Reload the page" in response.content.decode()
