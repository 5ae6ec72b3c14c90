import itertools
import json
from collections import Counter
from datetime import datetime

import pytest
import responses

from labelsite.wix import WixClient
from labelsite.wix.records import ContactWalkPage, WixContact


def dump_ids(sandbox):
    return {c["id"] for c in sandbox.dump()["contacts"]}


def walked_ids(pages):
    return [c.id for page in pages for c in page.contacts]


def check_spans(pages, everyone):
    """Each page vouches for its span: every contact created in [lo, hi) (or >= lo on the last
    page) is on the page or among its lo_ids; pages follow on without gaps."""
    assert [p.last for p in pages] == [False] * (len(pages) - 1) + [True]
    for before, after in itertools.pairwise(pages):
        assert after.lo == before.hi
        # A page stepping through one crowded instant also counts its own contacts as taken.
        assert before.next_lo_ids <= after.lo_ids
        assert after.lo_ids - before.next_lo_ids <= {c.id for c in after.contacts}
    for page in pages:
        on_page = {c.id for c in page.contacts} | page.lo_ids
        for contact_id, created in everyone.items():
            after_lo = page.lo is None or created >= page.lo
            before_hi = page.last or created < page.hi
            if after_lo and before_hi:
                assert contact_id in on_page, (contact_id, created, page.lo, page.hi)
        for contact in page.contacts:
            assert page.lo is None or contact.created_date >= page.lo
            assert page.hi is None or contact.created_date <= page.hi


def test_walk_contacts_yields_every_contact_once(wix, sandbox):
    sandbox.reset(contacts=2600, labels=5, seed=1)
    dumped = sandbox.dump()["contacts"]

    pages = list(wix.walk_contacts(page_size=1000))

    assert all(isinstance(page, ContactWalkPage) for page in pages)
    ids = walked_ids(pages)
    assert len(ids) == len(set(ids)) == 2600
    assert set(ids) == dump_ids(sandbox)
    assert all(page.contacts for page in pages)
    assert all(isinstance(c, WixContact) for page in pages for c in page.contacts)
    assert pages[0].lo is None
    assert pages[0].total == 2600
    labels = {c["id"]: tuple(c["labelKeys"]) for c in dumped}
    assert {c.id: c.label_keys for page in pages for c in page.contacts} == labels
    dates = [c.created_date for page in pages for c in page.contacts]
    assert dates == sorted(dates)
    check_spans(pages, {c["id"]: datetime.fromisoformat(c["createdDate"]) for c in dumped})
    assert wix.request_count == len(pages)


def test_contacts_created_while_paging_all_appear(wix, sandbox):
    sandbox.reset(contacts=2600, seed=2)
    created = []
    ids = []

    for number, page in enumerate(wix.walk_contacts(page_size=1000)):
        ids.extend(c.id for c in page.contacts)
        if number < 2:  # between pages; after the last one nothing could see them
            for i in range(5):
                answer = sandbox.api(
                    "POST", "/contacts/v4/contacts", json={"info": {"name": {"first": f"New {i}"}}}
                )
                created.append(answer.json()["contact"]["id"])

    assert Counter(ids).most_common(1)[0][1] == 1
    assert set(created) <= set(ids)
    assert set(ids) == dump_ids(sandbox)
    assert len(ids) == 2610


def test_contacts_deleted_while_paging_lose_nothing_else(wix, sandbox):
    sandbox.reset(contacts=2600, seed=3)
    everyone = sorted(sandbox.dump()["contacts"], key=lambda c: (c["createdDate"], c["id"]))
    yielded: list[str] = []
    deleted: set[str] = set()

    for page in wix.walk_contacts(page_size=1000):
        yielded.extend(c.id for c in page.contacts)
        if not deleted:
            # Some already seen, some not yet: an offset walk would now skip 40 contacts.
            doomed = yielded[:20] + [c["id"] for c in everyone[1500:1520]]
            for contact_id in doomed:
                answer = sandbox.api("DELETE", f"/contacts/v4/contacts/{contact_id}")
                assert answer.status_code == 200
            deleted = set(doomed)

    assert len(yielded) == len(set(yielded))
    assert set(yielded) == dump_ids(sandbox) | set(yielded[:20])
    assert not (set(yielded) & (deleted - set(yielded[:20])))
    assert len(yielded) == 2600 - 20


def test_walk_contacts_applies_the_callers_filter_and_start(wix, sandbox):
    sandbox.reset(contacts=300, labels=3, seed=5)
    contacts = sandbox.dump()["contacts"]
    key = next(k for c in contacts for k in c["labelKeys"])
    expected = {c["id"] for c in contacts if key in c["labelKeys"]}

    pages = list(wix.walk_contacts(filter={"info.labelKeys": {"$hasSome": [key]}}, page_size=7))
    found = walked_ids(pages)
    assert len(found) == len(set(found))
    assert set(found) == expected
    assert all(key in c.label_keys for page in pages for c in page.contacts)
    assert len(pages) > 1

    middle = sorted(c["createdDate"] for c in contacts)[150]
    after = datetime.fromisoformat(middle)
    later = {c["id"] for c in contacts if c["createdDate"] >= middle}
    from_middle = list(wix.walk_contacts(after=after, page_size=50))
    assert from_middle[0].lo == after
    assert set(walked_ids(from_middle)) == later
    assert len(walked_ids(from_middle)) == len(later)

    # Resuming: ids already taken at exactly `after` are not yielded again.
    at_middle = frozenset(c["id"] for c in contacts if c["createdDate"] == middle)
    resumed = list(wix.walk_contacts(after=after, after_ids=at_middle, page_size=50))
    assert set(walked_ids(resumed)) == later - at_middle
    assert resumed[0].lo_ids == at_middle

    both = wix.walk_contacts(
        filter={"info.labelKeys": {"$hasSome": [key]}}, after=after, page_size=1000
    )
    assert set(walked_ids(both)) == expected & later


def test_walk_contacts_on_an_empty_site_yields_one_empty_last_page(wix):
    pages = list(wix.walk_contacts())

    assert pages == [ContactWalkPage((), None, None, frozenset(), frozenset(), 0, True)]
    assert wix.request_count == 1


def test_walk_contacts_is_retried_through_faults(make_client, sandbox):
    sandbox.reset(contacts=500, seed=6)
    wix = make_client(max_retries=12)
    sandbox.set_faults("503=0.3,reset=0.1", seed=5)

    ids = walked_ids(wix.walk_contacts(page_size=100))

    sandbox.set_faults("")
    assert wix.retry_count > 0
    assert len(ids) == len(set(ids)) == 500
    assert set(ids) == dump_ids(sandbox)


@pytest.mark.parametrize("page_size", [0, 1001])
def test_walk_contacts_refuses_a_page_size_wix_would_not_serve(wix, page_size):
    with pytest.raises(ValueError, match="page_size"):
        next(wix.walk_contacts(page_size=page_size))
    assert wix.request_count == 0


def test_more_than_a_page_in_one_millisecond_falls_back_to_offsets():
    """The sandbox cannot promise 25 contacts in one millisecond, so a tiny fake serves them."""
    dates = ["2026-01-01T00:00:00.000Z"] * 3 + ["2026-01-01T00:00:00.005Z"] * 25
    dates += ["2026-01-01T00:00:00.009Z"] * 4
    store = [{"id": f"c{i:03d}", "createdDate": d, "info": {}} for i, d in enumerate(dates)]
    bodies = []

    def query(request):
        body = json.loads(request.body)["query"]
        bodies.append(body)
        conditions = body.get("filter", {}).get("$and", [body.get("filter", {})])
        since = next((c["createdDate"]["$gte"] for c in conditions if "createdDate" in c), "")
        matching = sorted(
            (c for c in store if c["createdDate"] >= since),
            key=lambda c: (c["createdDate"], c["id"]),
        )
        start, limit = body["paging"]["offset"], body["paging"]["limit"]
        page = matching[start : start + limit]
        return 200, {}, json.dumps({"contacts": page, "pagingMetadata": {"total": len(matching)}})

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, "https://fake.wix/contacts/v4/contacts/query", query)
        wix = WixClient(
            base_url="https://fake.wix", api_key="k", site_id="s", max_requests_per_minute=0
        )
        pages = list(wix.walk_contacts(page_size=10))

    assert walked_ids(pages) == [c["id"] for c in store]
    assert any(body["paging"]["offset"] > 0 for body in bodies)
    assert all(body["fieldsets"] == ["FULL"] for body in bodies)
    assert all(body["sort"] == [{"fieldName": "createdDate", "order": "ASC"}] for body in bodies)
    assert pages[0].total == 32
    # The pages that stepped through the crowded millisecond say so: their span is one instant.
    crowded = datetime.fromisoformat("2026-01-01T00:00:00.005Z")
    assert any(page.lo == page.hi == crowded for page in pages)
    check_spans(pages, {c["id"]: datetime.fromisoformat(c["createdDate"]) for c in store})
