from datetime import datetime

import pytest

from labelsite.wix import WixNotFound
from labelsite.wix.records import BulkJob, ContactsPage, WixContact


def make_contact(sandbox, first="Ada", labels=(), **info):
    """Create a contact straight through the sandbox's Wix API (the client no longer can)."""
    info = {"name": {"first": first, "last": "Lovelace"}, **info}
    if labels:
        info["labelKeys"] = {"items": list(labels)}
    response = sandbox.api("POST", "/contacts/v4/contacts", json={"info": info})
    assert response.status_code == 200, response.text
    return response.json()["contact"]


def test_label_and_unlabel_contact(wix, sandbox):
    keys = [wix.find_or_create_label(name)[0].key for name in ("Red", "Green", "Blue")]
    contact = make_contact(sandbox)

    labelled = wix.label_contact(contact["id"], keys)
    assert isinstance(labelled, WixContact)
    assert labelled.id == contact["id"]
    assert set(labelled.label_keys) == set(keys)
    assert labelled.revision == contact["revision"] + 1

    again = wix.label_contact(contact["id"], keys[:1])
    assert again.revision == labelled.revision

    unlabelled = wix.unlabel_contact(contact["id"], keys[:2])
    assert unlabelled.label_keys == (keys[2],)
    assert unlabelled.revision == labelled.revision + 1
    assert sandbox.dump()["contacts"][0]["labelKeys"] == [keys[2]]


def test_a_labelled_contact_comes_back_as_a_typed_record(wix, sandbox):
    key = wix.find_or_create_label("Typed")[0].key
    contact = make_contact(
        sandbox,
        "Grace",
        emails={"items": [{"email": "other@example.com"}, {"email": "g@x.org", "primary": True}]},
        phones={"items": [{"phone": "555-0100", "tag": "MOBILE"}]},
    )
    bare = sandbox.api("POST", "/contacts/v4/contacts", json={"info": {}}).json()["contact"]

    record = wix.label_contact(contact["id"], [key])
    assert (record.first_name, record.last_name) == ("Grace", "Lovelace")
    assert (record.email, record.phone) == ("g@x.org", "555-0100")
    assert record.label_keys == (key,)
    assert isinstance(record.created_date, datetime)
    assert record.created_date == datetime.fromisoformat(contact["createdDate"])
    assert record.changed_at > record.created_date

    nameless = wix.label_contact(bare["id"], [key])
    assert (nameless.first_name, nameless.last_name, nameless.email, nameless.phone) == (
        "",
        "",
        "",
        "",
    )
    assert nameless.label_keys == (key,)


def test_labelling_with_an_unknown_label_or_contact_is_not_found(wix, sandbox):
    contact = make_contact(sandbox)
    key = wix.find_or_create_label("Known")[0].key

    with pytest.raises(WixNotFound) as info:
        wix.label_contact(contact["id"], ["custom.unknown"])
    assert info.value.code == "LABEL_NOT_FOUND"

    with pytest.raises(WixNotFound) as info:
        wix.unlabel_contact("no-such-contact", [key])
    assert info.value.code == "NOT_FOUND"
    assert sandbox.dump()["contacts"][0]["labelKeys"] == []


def test_query_contacts_by_label_with_full_fieldset(wix, sandbox):
    vip = wix.find_or_create_label("VIP")[0].key
    tagged = {make_contact(sandbox, f"T{i}", labels=[vip])["id"] for i in range(3)}
    make_contact(sandbox, "Plain")

    found = wix.query_contacts(
        filter={"info.labelKeys": {"$hasSome": [vip]}}, limit=2, fieldsets=["FULL"]
    )
    assert isinstance(found, ContactsPage)
    assert len(found.contacts) == 2
    assert found.total == 3
    assert all(c.label_keys == (vip,) for c in found.contacts)
    assert all(c.first_name.startswith("T") for c in found.contacts)

    rest = wix.query_contacts(filter={"info.labelKeys": {"$hasSome": [vip]}}, limit=2, offset=2)
    assert len(rest.contacts) == 1
    assert {c.id for c in found.contacts} | {c.id for c in rest.contacts} == tagged


def test_query_contacts_sorts_and_counts_everyone_without_a_filter(wix, sandbox):
    names = ["Cy", "Al", "Bo"]
    for name in names:
        make_contact(sandbox, name)

    page = wix.query_contacts(sort=[{"fieldName": "info.name.first", "order": "ASC"}])

    assert [c.first_name for c in page.contacts] == sorted(names)
    assert page.total == 3


def test_bulk_add_remove_labels_job(make_client, sandbox):
    # Polling paces itself at 10 requests a second rather than sleeping in the test.
    wix = make_client(max_requests_per_minute=600)
    old = wix.find_or_create_label("Old")[0].key
    new = wix.find_or_create_label("New")[0].key
    ids = [make_contact(sandbox, f"B{i}", labels=[old])["id"] for i in range(4)]
    untouched = make_contact(sandbox, "Other", labels=[old])["id"]

    job_id = wix.bulk_add_remove_labels(filter={"id": {"$in": ids}}, add=[new], remove=[old])
    assert isinstance(job_id, str)
    assert job_id

    for _ in range(100):
        job = wix.get_bulk_job(job_id)
        if job.status == "COMPLETED":
            break
    assert isinstance(job, BulkJob)
    assert job.status == "COMPLETED"
    assert job.id == job_id
    assert (job.success_total, job.failed_total) == (4, 0)
    assert job.error_messages == []

    labels = {c["id"]: c["labelKeys"] for c in sandbox.dump()["contacts"]}
    assert all(labels[i] == [new] for i in ids)
    assert labels[untouched] == [old]


def test_get_bulk_job_of_an_unknown_id_is_not_found(wix):
    with pytest.raises(WixNotFound) as info:
        wix.get_bulk_job("no-such-job")
    assert info.value.path == "/contacts/v4/bulk/jobs/no-such-job"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"add": ["custom.x"]}, "filter or a search"),
        ({"filter": {"id": {"$in": ["a"]}}}, "add or to remove"),
    ],
)
def test_bulk_add_remove_labels_needs_a_target_and_a_change(wix, kwargs, message):
    with pytest.raises(ValueError, match=message):
        wix.bulk_add_remove_labels(**kwargs)
    assert wix.request_count == 0
