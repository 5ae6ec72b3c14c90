"""403, 404 and 500 as pages in the admin's look, in plain words with a way back; htmx requests
keep their one sentence in the page's message area (tests/test_errors.py)."""

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from labelsite import errors
from tests.fixtures.users import make_user

pytestmark = pytest.mark.django_db


def test_403_is_a_page_in_the_admins_look(client):
    client.force_login(make_user("plain"))
    response = client.get(reverse("admin:labels_label_changelist"))
    assert response.status_code == 403
    page = response.content.decode()
    assert "<h1>You may not open this page</h1>" in page
    assert "does not have the permission this page needs" in page
    assert 'id="site-name"' in page  # the admin's header
    assert "logout-form" in page  # who is logged in, and a way out
    assert f'href="{reverse("admin:index")}">Go to the start page</a>' in page
    assert "403 Forbidden" not in page


def test_404_is_a_page_in_the_admins_look(client):
    client.force_login(make_user("plain"))
    for url in ("/admin/no-such-page/", "/no-such-page/"):
        response = client.get(url)
        assert response.status_code == 404, url
        page = response.content.decode()
        assert "<h1>This page does not exist</h1>" in page
        assert "Go to the start page" in page


def test_404_for_someone_not_logged_in_has_no_user_tools():
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "This page does not exist" in page
    assert "logout-form" not in page


def test_500_needs_neither_the_request_nor_the_database(django_assert_num_queries):
    request = RequestFactory().get("/")
    with django_assert_num_queries(0):
        response = errors.server_error(request)
    assert response.status_code == 500
    page = response.content.decode()
    assert "<h1>Something went wrong on our side</h1>" in page
    assert "Nothing was changed" in page
    assert 'id="site-name"' in page
    assert "Traceback" not in page


def test_500_falls_back_to_plain_text_if_the_page_fails(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("template engine down")

    monkeypatch.setattr(errors.loader, "render_to_string", broken)
    response = errors.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/plain")
    assert "Nothing was changed" in response.content.decode()


def test_a_view_that_fails_shows_the_500_page(client, monkeypatch):
    from labelsite import sites

    def fail(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(sites, "dashboard_for", fail)
    client.raise_request_exception = False
    client.force_login(make_user("boss", superuser=True))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


def test_a_stale_form_without_htmx_says_reload_in_the_admins_look(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(reverse("admin:sync_syncrun_sync_now"), {"kind": "full"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "<h1>This page was out of date</h1>" in page
    assert "Nothing was changed" in page
    assert "CSRF verification failed" not in page
