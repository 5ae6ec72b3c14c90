"""What the sandbox cannot stage: exact request headers, lost answers, garbled bodies.

Everything else is tested over real HTTP against the sandbox.
"""

import pytest
import requests
import responses

from labelsite.wix import WixClient, WixUnavailable

BASE = "https://wix.invalid"
KEY = "offline-secret-key"


@pytest.fixture
def client():
    sleeps: list[float] = []
    with WixClient(
        base_url=BASE,
        api_key=KEY,
        site_id="site-9",
        max_requests_per_minute=0,
        connect_timeout=1.5,
        read_timeout=7.0,
        max_retries=2,
        backoff_base=0.01,
        backoff_cap=0.05,
        sleep=sleeps.append,
    ) as wix:
        wix.sleeps = sleeps
        yield wix


@responses.activate
def test_every_call_sends_auth_headers_user_agent_and_both_timeouts(client):
    responses.get(f"{BASE}/contacts/v4/labels/custom.a", json={"label": {"key": "custom.a"}})

    assert client.get_label("custom.a") == {"key": "custom.a"}

    call = responses.calls[0]
    assert call.request.headers["Authorization"] == KEY
    assert call.request.headers["wix-site-id"] == "site-9"
    assert "wix-account-id" not in call.request.headers
    assert call.request.headers["User-Agent"] == "labelsite/0.1"
    assert call.request.req_kwargs["timeout"] == (1.5, 7.0)


@responses.activate
def test_an_empty_200_body_reads_as_an_empty_dict(client):
    responses.get(f"{BASE}/contacts/v4/bulk/jobs", body="")

    assert client.list_bulk_jobs() == []
    assert client._request("GET", "/contacts/v4/bulk/jobs") == {}


@responses.activate
def test_ids_cannot_escape_their_path_segment(client):
    responses.get(f"{BASE}/contacts/v4/contacts/a%2F..%2Fb%3Fx", json={"contact": {"id": "x"}})

    assert client.get_contact("a/../b?x") == {"id": "x"}


@responses.activate
def test_a_delete_whose_first_answer_was_lost_counts_as_done(client):
    url = f"{BASE}/contacts/v4/labels/custom.gone"
    responses.delete(url, status=503)
    responses.delete(url, status=404, json={"message": "not found"})

    assert client.delete_label("custom.gone") is None
    assert client.request_count == 2
    assert client.retry_count == 1


@responses.activate
def test_create_contact_is_retried_only_when_wix_surely_did_not_act(client):
    url = f"{BASE}/contacts/v4/contacts"
    responses.post(url, body=requests.ConnectTimeout("connect timed out"))
    responses.post(url, json={"contact": {"id": "c1"}})

    assert client.create_contact({"name": {"first": "Ada"}}) == {"id": "c1"}
    assert client.retry_count == 1

    responses.replace(responses.POST, url, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(WixUnavailable, match="read timeout") as info:
        client.create_contact({"name": {"first": "Bob"}})
    assert info.value.transient
    assert client.request_count == 3


@responses.activate
def test_a_garbled_success_body_is_retried(client):
    url = f"{BASE}/contacts/v4/labels/custom.a"
    responses.get(url, body="{not json")
    responses.get(url, json={"label": {"key": "custom.a"}})

    assert client.get_label("custom.a") == {"key": "custom.a"}
    assert client.retry_count == 1
