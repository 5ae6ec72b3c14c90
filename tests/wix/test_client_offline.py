"""What the sandbox cannot stage: exact request headers, lost answers, garbled or odd bodies.

Everything else is tested over real HTTP against the sandbox.
"""

from datetime import UTC, datetime

import pytest
import responses

from labelsite.wix import WixClient, WixUnavailable
from labelsite.wix.records import WixContact, WixLabel

BASE = "https://wix.invalid"
KEY = "offline-secret-key"
CONTACT = {"id": "x", "createdDate": "2026-01-02T03:04:05.678Z", "revision": 4}


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

    assert client.get_label("custom.a") == WixLabel(key="custom.a")

    call = responses.calls[0]
    assert call.request.headers["Authorization"] == KEY
    assert call.request.headers["wix-site-id"] == "site-9"
    assert "wix-account-id" not in call.request.headers
    assert call.request.headers["User-Agent"] == "labelsite/0.1"
    assert call.request.req_kwargs["timeout"] == (1.5, 7.0)


@responses.activate
def test_an_empty_200_body_is_fine_only_where_no_answer_is_read(client):
    responses.delete(f"{BASE}/contacts/v4/labels/custom.a", body="")
    responses.get(f"{BASE}/contacts/v4/bulk/jobs/job-1", body="")

    assert client.delete_label("custom.a") is None
    assert client.request_count == 1

    with pytest.raises(WixUnavailable) as info:
        client.get_bulk_job("job-1")
    assert info.value.status == 200
    assert "could not be read" in str(info.value)
    assert client.request_count == 1 + 3
    assert client.retry_count == 2


@responses.activate
def test_ids_cannot_escape_their_path_segment(client):
    responses.post(f"{BASE}/contacts/v4/contacts/a%2F..%2Fb%3Fx/labels", json={"contact": CONTACT})
    responses.get(f"{BASE}/contacts/v4/labels/custom.a%2Fb", json={"label": {"key": "custom.a/b"}})

    contact = client.label_contact("a/../b?x", ["custom.a"])
    assert isinstance(contact, WixContact)
    assert contact.id == "x"
    assert contact.revision == 4
    assert contact.created_date == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert client.get_label("custom.a/b").key == "custom.a/b"


@responses.activate
def test_unlabel_sends_the_keys_as_repeated_query_parameters(client):
    url = f"{BASE}/contacts/v4/contacts/c1/labels"
    responses.delete(url, json={"contact": {**CONTACT, "id": "c1"}})

    assert client.unlabel_contact("c1", ["custom.a", "custom.b"]).id == "c1"
    assert responses.calls[0].request.url == f"{url}?labelKeys=custom.a&labelKeys=custom.b"


@responses.activate
def test_a_delete_whose_first_answer_was_lost_counts_as_done(client):
    url = f"{BASE}/contacts/v4/labels/custom.gone"
    responses.delete(url, status=503)
    responses.delete(url, status=404, json={"message": "not found"})

    assert client.delete_label("custom.gone") is None
    assert client.request_count == 2
    assert client.retry_count == 1


@responses.activate
@responses.activate
def test_a_garbled_success_body_is_retried(client):
    url = f"{BASE}/contacts/v4/labels/custom.a"
    responses.get(url, body="{not json")
    responses.get(url, json={"label": {"key": "custom.a", "displayName": "A"}})

    assert client.get_label("custom.a") == WixLabel(key="custom.a", display_name="A")
    assert client.retry_count == 1


@responses.activate
def test_a_garbled_success_body_every_time_raises_unavailable(client):
    responses.get(f"{BASE}/contacts/v4/labels/custom.a", body="<html>oops</html>")

    with pytest.raises(WixUnavailable) as info:
        client.get_label("custom.a")

    assert info.value.status == 200
    assert client.request_count == 3
    assert client.retry_count == 2


@responses.activate
def test_one_unreadable_contact_is_set_aside_and_the_rest_of_the_page_read(client):
    responses.post(
        f"{BASE}/contacts/v4/contacts/query",
        json={
            "contacts": [
                {"id": "c1", "createdDate": "2025-01-01T00:00:00Z"},
                {"id": "c2"},
                {"id": "c3", "createdDate": "2025-01-02T00:00:00Z", "revision": "x"},
            ],
            "pagingMetadata": {"count": 3, "offset": 0, "total": 3},
        },
    )
    page = client.query_contacts()
    assert [c.id for c in page.contacts] == ["c1"]
    assert [s.id for s in page.set_aside] == ["c2", "c3"]
    assert client.request_count == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "call"),
    [
        ("GET", "labels/custom.a", {"label": {"displayName": "no key"}}, "get_label"),
        ("GET", "labels/custom.a", {"notALabel": {}}, "get_label"),
        ("POST", "labels/query", {"labels": "not a list"}, "query_labels"),
        ("POST", "contacts/query", {"contacts": "not a list"}, "query_contacts"),
        ("POST", "contacts/query", [1, 2, 3], "query_contacts"),
        ("POST", "labels", {"label": {"key": 7}, "newLabel": True}, "find_or_create_label"),
        ("GET", "bulk/jobs/j1", {"job": {"successTotal": "many"}}, "get_bulk_job"),
    ],
)
@responses.activate
def test_a_200_answer_of_the_wrong_shape_is_unavailable_without_retrying(
    client, method, path, body, call
):
    responses.add(method, f"{BASE}/contacts/v4/{path}", json=body)
    args = {
        "get_label": ("custom.a",),
        "query_labels": (),
        "query_contacts": (),
        "find_or_create_label": ("A",),
        "get_bulk_job": ("j1",),
    }[call]

    with pytest.raises(WixUnavailable) as info:
        getattr(client, call)(*args)

    assert info.value.status == 200
    assert "expected shape" in info.value.message
    assert str(info.value).startswith("Wix sent an answer that could not be read (HTTP 200)")
    assert client.request_count == 1
    assert client.retry_count == 0
    assert client.sleeps == []


@responses.activate
def test_query_labels_reads_paging_from_metadata_or_paging_metadata(client):
    url = f"{BASE}/contacts/v4/labels/query"
    labels = [{"key": "custom.a", "displayName": "A", "labelType": "USER_DEFINED"}]
    responses.post(url, json={"labels": labels, "metadata": {"count": 1, "offset": 4, "total": 9}})
    responses.post(url, json={"labels": labels, "pagingMetadata": {"count": 1, "total": 8}})

    first = client.query_labels(limit=1, offset=4)
    second = client.query_labels(limit=1, offset=4)

    assert first.labels == second.labels == (WixLabel("custom.a", "A", "USER_DEFINED"),)
    assert (first.paging.offset, first.paging.total) == (4, 9)
    assert second.paging.total == 8
