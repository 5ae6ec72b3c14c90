import re
import uuid

import pytest

DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def create_label(sandbox, name):
    response = sandbox.api("POST", "/contacts/v4/labels", json={"displayName": name})
    return response.json()["label"]["key"]


def create_contact(sandbox, first="Ada", last="Lovelace", email=None, labels=()):
    info = {
        "name": {"first": first, "last": last},
        "emails": {
            "items": [{"email": email or f"{first}.{last}@example.com".lower(), "tag": "MAIN"}]
        },
        "phones": {"items": [{"phone": "555-010-2030", "countryCode": "US", "tag": "MOBILE"}]},
        "labelKeys": {"items": list(labels)},
    }
    response = sandbox.api("POST", "/contacts/v4/contacts", json={"info": info})
    assert response.status_code == 200, response.text
    return response.json()["contact"]


def query(sandbox, **query_body):
    return sandbox.api("POST", "/contacts/v4/contacts/query", json={"query": query_body})


def ids(response):
    assert response.status_code == 200, response.text
    return [contact["id"] for contact in response.json()["contacts"]]


def test_create_answers_a_full_contact(sandbox):
    key = create_label(sandbox, "VIP")

    contact = create_contact(sandbox, labels=[key, "contacts.customers"])

    assert uuid.UUID(contact["id"]).version == 4
    assert contact["revision"] == 1
    assert contact["source"] == {"sourceType": "ADMIN"}
    assert DATE.match(contact["createdDate"])
    assert contact["updatedDate"] == contact["createdDate"]
    assert contact["primaryInfo"] == {"email": "ada.lovelace@example.com", "phone": "555-010-2030"}
    email = contact["info"]["emails"]["items"][0]
    assert email["primary"] is True
    assert uuid.UUID(email["id"])
    phone = contact["info"]["phones"]["items"][0]
    assert phone["e164Phone"] == "+15550102030"
    assert contact["info"]["labelKeys"] == {"items": ["custom.vip", "contacts.customers"]}
    assert contact["info"]["name"] == {"first": "Ada", "last": "Lovelace"}


def test_create_validation(sandbox):
    unknown = sandbox.api(
        "POST", "/contacts/v4/contacts", json={"info": {"labelKeys": {"items": ["custom.nope"]}}}
    )
    no_info = sandbox.api("POST", "/contacts/v4/contacts", json={})

    assert unknown.status_code == 404
    assert unknown.json()["details"]["applicationError"]["code"] == "LABEL_NOT_FOUND"
    assert no_info.status_code == 400
    assert no_info.json()["details"]["validationError"]["fieldViolations"][0]["field"] == "info"


def test_get_and_delete(sandbox):
    contact = create_contact(sandbox)

    got = sandbox.api("GET", f"/contacts/v4/contacts/{contact['id']}")
    basic = sandbox.api(
        "GET", f"/contacts/v4/contacts/{contact['id']}", params={"fieldsets": "BASIC"}
    )
    deleted = sandbox.api("DELETE", f"/contacts/v4/contacts/{contact['id']}")
    gone = sandbox.api("GET", f"/contacts/v4/contacts/{contact['id']}")

    assert got.json() == {"contact": contact}
    assert set(basic.json()["contact"]["info"]) == {"name"}
    assert deleted.json() == {}
    assert gone.status_code == 404
    assert gone.json()["details"]["applicationError"]["code"] == "NOT_FOUND"
    assert sandbox.dump()["contacts"] == []


def test_update_needs_the_current_revision(sandbox):
    contact = create_contact(sandbox)
    path = f"/contacts/v4/contacts/{contact['id']}"

    updated = sandbox.api("PATCH", path, json={"revision": 1, "info": {"name": {"first": "Grace"}}})
    stale = sandbox.api("PATCH", path, json={"revision": 1, "info": {"name": {"first": "Alan"}}})
    missing = sandbox.api("PATCH", path, json={"info": {}})

    after = updated.json()["contact"]
    assert after["revision"] == 2
    assert after["updatedDate"] > contact["updatedDate"]
    assert after["info"]["name"] == {"first": "Grace"}
    assert after["info"]["emails"] == contact["info"]["emails"]
    assert stale.status_code == 409
    assert stale.json()["details"]["applicationError"]["code"] == "REVISION_MISMATCH"
    assert missing.status_code == 400


def test_label_and_unlabel(sandbox):
    a, b = create_label(sandbox, "A"), create_label(sandbox, "B")
    contact = create_contact(sandbox)
    path = f"/contacts/v4/contacts/{contact['id']}/labels"

    labeled = sandbox.api("POST", path, json={"labelKeys": [a, b]}).json()["contact"]
    again = sandbox.api("POST", path, json={"labelKeys": [a]}).json()["contact"]
    unlabeled = sandbox.api("DELETE", path, params={"labelKeys": [a, b]}).json()["contact"]
    noop = sandbox.api("DELETE", path, params={"labelKeys": [a]}).json()["contact"]

    assert labeled["info"]["labelKeys"]["items"] == [a, b]
    assert labeled["revision"] == 2
    assert again["revision"] == 2
    assert unlabeled["info"]["labelKeys"]["items"] == []
    assert unlabeled["revision"] == 3
    assert noop["revision"] == 3


def test_label_errors(sandbox):
    contact = create_contact(sandbox)
    path = f"/contacts/v4/contacts/{contact['id']}/labels"

    unknown_label = sandbox.api("POST", path, json={"labelKeys": ["custom.nope"]})
    unknown_contact = sandbox.api(
        "POST", "/contacts/v4/contacts/nope/labels", json={"labelKeys": []}
    )
    no_keys = sandbox.api("DELETE", path)

    assert unknown_label.status_code == 404
    assert unknown_label.json()["details"]["applicationError"]["code"] == "LABEL_NOT_FOUND"
    assert unknown_contact.status_code == 404
    assert unknown_contact.json()["details"]["applicationError"]["code"] == "NOT_FOUND"
    assert no_keys.status_code == 400


def test_query_paging_limits(sandbox):
    sandbox.reset(contacts=1500, labels=10)
    everyone = [contact["id"] for contact in sandbox.dump()["contacts"]]

    default = query(sandbox)
    full_page = query(sandbox, paging={"limit": 1000, "offset": 1000})
    too_big = query(sandbox, paging={"limit": 1001})

    assert ids(default) == everyone[:50]
    assert default.json()["pagingMetadata"] == {
        "count": 50,
        "offset": 0,
        "total": 1500,
        "tooManyToCount": False,
    }
    assert ids(full_page) == everyone[1000:]
    assert "labelKeys" in full_page.json()["contacts"][0]["info"]
    assert too_big.status_code == 400
    assert too_big.json()["details"]["validationError"]["fieldViolations"][0]["field"] == (
        "query.paging.limit"
    )


@pytest.mark.parametrize("order", ["ASC", "DESC"])
def test_sort_breaks_ties_by_id(sandbox, order):
    sandbox.reset(contacts=400, labels=5)
    response = query(
        sandbox, sort=[{"fieldName": "info.name.first", "order": order}], paging={"limit": 1000}
    )
    contacts = response.json()["contacts"]

    firsts = [contact["info"]["name"]["first"] for contact in contacts]
    assert len(set(firsts)) < len(firsts)  # there are ties to break
    expected = sorted(contacts, key=lambda contact: contact["id"])
    expected.sort(key=lambda contact: contact["info"]["name"]["first"], reverse=order == "DESC")
    assert ids(response) == [contact["id"] for contact in expected]


def test_created_date_sort_and_ranges(sandbox):
    sandbox.reset(contacts=300, labels=5)
    dump = sandbox.dump()["contacts"]
    middle = dump[150]["createdDate"]

    after = query(sandbox, filter={"createdDate": {"$gt": middle}}, paging={"limit": 1000})
    upto = query(sandbox, filter={"createdDate": {"$lte": middle}}, paging={"limit": 1000})
    newest = query(
        sandbox, sort=[{"fieldName": "createdDate", "order": "DESC"}], paging={"limit": 3}
    )

    assert ids(after) == [c["id"] for c in dump if c["createdDate"] > middle]
    assert ids(upto) == [c["id"] for c in dump if c["createdDate"] <= middle]
    assert ids(newest) == [c["id"] for c in dump[::-1][:3]]
    assert query(sandbox, sort=[{"fieldName": "updatedDate"}]).status_code == 400
    two_sorts = [{"fieldName": "createdDate"}, {"fieldName": "info.name.last"}]
    assert query(sandbox, sort=two_sorts).status_code == 400


def test_label_filters(sandbox):
    sandbox.reset(contacts=500, labels=8, seed=3)
    dump = sandbox.dump()["contacts"]
    first, second = "custom.newsletter", "custom.vip"

    def expect(test):
        return [c["id"] for c in dump if test(set(c["labelKeys"]))]

    def matching(filter_):
        return ids(query(sandbox, filter=filter_, paging={"limit": 1000}))

    some = matching({"info.labelKeys": {"$hasSome": [first, second]}})
    every = matching({"info.labelKeys": {"$hasAll": [first, second]}})
    either = matching(
        {
            "$or": [
                {"info.labelKeys": {"$hasSome": [first]}},
                {"info.labelKeys": {"$hasSome": [second]}},
            ]
        }
    )
    neither = matching({"$not": {"info.labelKeys": {"$hasSome": [first, second]}}})
    both = matching(
        {
            "$and": [
                {"info.labelKeys": {"$hasSome": [first]}},
                {"info.labelKeys": {"$hasAll": [second]}},
            ]
        }
    )

    assert some == expect(lambda keys: bool(keys & {first, second}))
    assert every == expect(lambda keys: {first, second} <= keys)
    assert 0 < len(every) < len(some) < len(dump)
    assert either == some
    assert both == every
    assert neither == expect(lambda keys: not keys & {first, second})
    assert query(sandbox, filter={"info.labelKeys": {"$eq": first}}).status_code == 400


def test_field_filters(sandbox):
    ada = create_contact(sandbox, "Ada", "Lovelace")
    alan = create_contact(sandbox, "Alan", "Turing", email="alan@bletchley.uk")
    grace = create_contact(sandbox, "Grace", "Hopper")

    def matching(filter_):
        return ids(query(sandbox, filter=filter_))

    def in_order(*contacts):
        # Contacts made in the same millisecond are ordered by id.
        return [c["id"] for c in sorted(contacts, key=lambda c: (c["createdDate"], c["id"]))]

    assert matching({"info.name.first": {"$startsWith": "A"}}) == in_order(ada, alan)
    # Not case-sensitive, as Wix's $startsWith.
    assert matching({"info.name.first": {"$startsWith": "a"}}) == in_order(ada, alan)
    assert matching({"info.name.first": {"$startsWith": "B"}}) == []
    assert matching({"primaryInfo.email": "alan@bletchley.uk"}) == [alan["id"]]
    assert matching({"info.emails.email": {"$in": ["alan@bletchley.uk", "x@y"]}}) == [alan["id"]]
    assert matching({"info.name.last": {"$ne": "Turing"}}) == in_order(ada, grace)
    assert matching({"id": {"$in": [grace["id"], ada["id"]]}}) == in_order(ada, grace)
    assert matching({"id": {"$eq": alan["id"]}, "info.name.first": "Alan"}) == [alan["id"]]
    assert matching({"info.company": {"$exists": True}}) == []
    latest = [c for c in (ada, alan, grace) if c["updatedDate"] >= grace["updatedDate"]]
    assert matching({"updatedDate": {"$gte": grace["updatedDate"]}}) == in_order(*latest)
    assert query(sandbox, filter={"info.name.first": {"$hasSome": ["A"]}}).status_code == 400
    assert query(sandbox, filter={"nickname": "A"}).status_code == 400


def test_fieldsets_and_fields(sandbox):
    create_contact(sandbox, labels=["contacts.customers"])

    basic = query(sandbox, fieldsets=["BASIC"]).json()["contacts"][0]
    picked = query(sandbox, fields=["info.labelKeys"]).json()["contacts"][0]

    assert set(basic) == {"id", "revision", "createdDate", "updatedDate", "primaryInfo", "info"}
    assert set(basic["info"]) == {"name"}
    assert set(picked) == {"id", "info"}
    assert picked["info"] == {"labelKeys": {"items": ["contacts.customers"]}}
    assert query(sandbox, fieldsets=["HUGE"]).status_code == 400


def test_list_contacts(sandbox):
    sandbox.reset(contacts=60)
    everyone = [contact["id"] for contact in sandbox.dump()["contacts"]]

    listed = sandbox.api("GET", "/contacts/v4/contacts", params={"paging.offset": 10})

    assert ids(listed) == everyone[10:60]
