import pytest

from labelsite.wix import WixConflict, WixNotFound


def make_contact(wix, first="Ada", labels=()):
    info = {"name": {"first": first, "last": "Lovelace"}}
    if labels:
        info["labelKeys"] = {"items": list(labels)}
    return wix.create_contact(info)


def test_create_get_update_delete_contact(wix):
    contact = make_contact(wix)
    assert wix.get_contact(contact["id"])["info"]["name"]["first"] == "Ada"

    updated = wix.update_contact(
        contact["id"],
        revision=contact["revision"],
        info={"name": {"first": "Augusta", "last": "King"}},
    )
    assert updated["revision"] == contact["revision"] + 1
    assert updated["info"]["name"]["first"] == "Augusta"

    assert wix.delete_contact(contact["id"]) is None
    with pytest.raises(WixNotFound) as info:
        wix.get_contact(contact["id"])
    assert info.value.code == "NOT_FOUND"


def test_updating_a_stale_revision_is_a_conflict(wix):
    contact = make_contact(wix)
    wix.update_contact(contact["id"], revision=contact["revision"], info={"company": "A"})

    with pytest.raises(WixConflict) as info:
        wix.update_contact(contact["id"], revision=contact["revision"], info={"company": "B"})

    assert info.value.code == "REVISION_MISMATCH"
    assert wix.get_contact(contact["id"])["info"]["company"] == "A"


def test_label_and_unlabel_contact(wix):
    keys = [wix.find_or_create_label(name)[0]["key"] for name in ("Red", "Green", "Blue")]
    contact = make_contact(wix)

    labelled = wix.label_contact(contact["id"], keys)
    assert set(labelled["info"]["labelKeys"]["items"]) == set(keys)
    assert labelled["revision"] == contact["revision"] + 1

    again = wix.label_contact(contact["id"], keys[:1])
    assert again["revision"] == labelled["revision"]

    unlabelled = wix.unlabel_contact(contact["id"], keys[:2])
    assert unlabelled["info"]["labelKeys"]["items"] == [keys[2]]
    assert unlabelled["revision"] == labelled["revision"] + 1


def test_labelling_with_an_unknown_label_or_contact_is_not_found(wix):
    contact = make_contact(wix)
    key = wix.find_or_create_label("Known")[0]["key"]

    with pytest.raises(WixNotFound) as info:
        wix.label_contact(contact["id"], ["custom.unknown"])
    assert info.value.code == "LABEL_NOT_FOUND"

    with pytest.raises(WixNotFound) as info:
        wix.unlabel_contact("no-such-contact", [key])
    assert info.value.code == "NOT_FOUND"


def test_query_contacts_by_label_with_full_fieldset(wix):
    vip = wix.find_or_create_label("VIP")[0]["key"]
    tagged = {make_contact(wix, f"T{i}", labels=[vip])["id"] for i in range(3)}
    make_contact(wix, "Plain")

    found = wix.query_contacts(
        filter={"info.labelKeys": {"$hasSome": [vip]}}, limit=2, fieldsets=["FULL"]
    )
    assert len(found["contacts"]) == 2
    assert found["pagingMetadata"]["total"] == 3
    assert all(c["info"]["labelKeys"]["items"] == [vip] for c in found["contacts"])

    rest = wix.query_contacts(filter={"info.labelKeys": {"$hasSome": [vip]}}, limit=2, offset=2)
    ids = {c["id"] for c in found["contacts"]} | {c["id"] for c in rest["contacts"]}
    assert ids == tagged


def test_bulk_add_remove_labels_job(make_client, sandbox):
    # Polling paces itself at 10 requests a second rather than sleeping in the test.
    wix = make_client(max_requests_per_minute=600)
    old = wix.find_or_create_label("Old")[0]["key"]
    new = wix.find_or_create_label("New")[0]["key"]
    ids = [make_contact(wix, f"B{i}", labels=[old])["id"] for i in range(4)]
    untouched = make_contact(wix, "Other", labels=[old])["id"]

    job_id = wix.bulk_add_remove_labels(filter={"id": {"$in": ids}}, add=[new], remove=[old])
    assert isinstance(job_id, str)

    for _ in range(100):
        job = wix.get_bulk_job(job_id)
        if job["status"] == "COMPLETED":
            break
    assert job["status"] == "COMPLETED"
    assert job["id"] == job_id
    assert job_id in {j["id"] for j in wix.list_bulk_jobs()}

    labels = {c["id"]: c["labelKeys"] for c in sandbox.dump()["contacts"]}
    assert all(labels[i] == [new] for i in ids)
    assert labels[untouched] == [old]


def test_bulk_add_remove_labels_needs_a_target(wix):
    with pytest.raises(ValueError, match="filter or a search"):
        wix.bulk_add_remove_labels(add=["custom.x"])
    assert wix.request_count == 0


def test_label_facets_count_contacts_per_label(wix):
    a = wix.find_or_create_label("Facet A")[0]["key"]
    b = wix.find_or_create_label("Facet B")[0]["key"]
    for labels in ([a], [a, b], [a], []):
        make_contact(wix, labels=labels)

    facets = wix.label_facets()
    assert facets[a] == 3
    assert facets[b] == 1
    assert facets["contacts.customers"] == 0

    raw = wix.list_facets()
    by_type = {f["facetType"]: f["count"] for f in raw if f["facetType"] != "LABEL"}
    assert by_type == {"ALL_CONTACTS": 4, "NOT_LABELED": 1}
