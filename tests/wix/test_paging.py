from collections import Counter


def dump_ids(sandbox):
    return {c["id"] for c in sandbox.dump()["contacts"]}


def test_iter_contact_pages_yields_every_contact_once(wix, sandbox):
    sandbox.reset(contacts=2600, labels=5, seed=1)

    pages = list(wix.iter_contact_pages(page_size=1000))

    ids = [c["id"] for page in pages for c in page]
    assert len(ids) == len(set(ids)) == 2600
    assert set(ids) == dump_ids(sandbox)
    assert all(page for page in pages)
    assert all("labelKeys" in c["info"] for page in pages for c in page)
    dates = [c["createdDate"] for page in pages for c in page]
    assert dates == sorted(dates)


def test_contacts_created_while_paging_all_appear(wix, sandbox):
    sandbox.reset(contacts=2600, seed=2)
    created = []
    ids = []

    for number, page in enumerate(wix.iter_contact_pages(page_size=1000)):
        ids.extend(c["id"] for c in page)
        if number < 2:  # between pages; after the last one nothing could see them
            created += [wix.create_contact({"name": {"first": f"New {i}"}})["id"] for i in range(5)]

    assert Counter(ids).most_common(1)[0][1] == 1
    assert set(created) <= set(ids)
    assert set(ids) == dump_ids(sandbox)
    assert len(ids) == 2610


def test_contacts_deleted_while_paging_lose_nothing_else(wix, sandbox):
    sandbox.reset(contacts=2600, seed=3)
    everyone = sorted(sandbox.dump()["contacts"], key=lambda c: (c["createdDate"], c["id"]))
    yielded: list[str] = []
    deleted: set[str] = set()

    for page in wix.iter_contact_pages(page_size=1000):
        yielded.extend(c["id"] for c in page)
        if not deleted:
            # Some already seen, some not yet: an offset walk would now skip 40 contacts.
            doomed = yielded[:20] + [c["id"] for c in everyone[1500:1520]]
            for contact_id in doomed:
                wix.delete_contact(contact_id)
            deleted = set(doomed)

    assert len(yielded) == len(set(yielded))
    assert set(yielded) == dump_ids(sandbox) | set(yielded[:20])
    assert not (set(yielded) & (deleted - set(yielded[:20])))
    assert len(yielded) == 2600 - 20


def test_iter_contacts_applies_the_callers_filter_and_start(wix, sandbox):
    sandbox.reset(contacts=300, labels=3, seed=5)
    contacts = sandbox.dump()["contacts"]
    key = next(k for c in contacts for k in c["labelKeys"])
    expected = {c["id"] for c in contacts if key in c["labelKeys"]}

    found = [
        c["id"]
        for c in wix.iter_contacts(filter={"info.labelKeys": {"$hasSome": [key]}}, page_size=7)
    ]
    assert len(found) == len(set(found))
    assert set(found) == expected

    middle = sorted(c["createdDate"] for c in contacts)[150]
    later = {c["id"] for c in contacts if c["createdDate"] >= middle}
    assert {c["id"] for c in wix.iter_contacts(created_after=middle, page_size=50)} == later


def test_iter_contact_pages_on_an_empty_site_yields_nothing(wix):
    assert list(wix.iter_contact_pages()) == []
    assert wix.request_count == 1


def test_more_than_a_page_in_one_millisecond_falls_back_to_offsets():
    """The sandbox cannot promise 25 contacts in one millisecond, so a tiny fake serves them."""
    import json

    import responses

    from labelsite.wix import WixClient

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
        return 200, {}, json.dumps({"contacts": matching[start : start + limit]})

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, "https://fake.wix/contacts/v4/contacts/query", query)
        wix = WixClient(
            base_url="https://fake.wix", api_key="k", site_id="s", max_requests_per_minute=0
        )
        pages = list(wix.iter_contact_pages(page_size=10))

    ids = [c["id"] for page in pages for c in page]
    assert ids == [c["id"] for c in store]
    assert any(body["paging"]["offset"] > 0 for body in bodies)
    assert all(body["fieldsets"] == ["FULL"] for body in bodies)
    assert all(body["sort"] == [{"fieldName": "createdDate", "order": "ASC"}] for body in bodies)
