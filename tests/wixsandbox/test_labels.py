import re

import pytest

from tests.sandbox import SandboxProcess

DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def find_or_create(sandbox, name):
    return sandbox.api("POST", "/contacts/v4/labels", json={"displayName": name})


def create_label(sandbox, name):
    response = find_or_create(sandbox, name)
    assert response.status_code == 200, response.text
    return response.json()["label"]


def violation(response):
    assert response.status_code == 400, response.text
    return response.json()["details"]["validationError"]["fieldViolations"][0]


def app_code(response):
    return response.json()["details"]["applicationError"]["code"]


def test_find_or_create_creates_then_finds(sandbox):
    first = find_or_create(sandbox, "My Label")
    again = find_or_create(sandbox, "My Label")

    assert first.status_code == 200
    assert first.json()["newLabel"] is True
    label = first.json()["label"]
    assert label["key"] == "custom.my-label"
    assert label["namespace"] == "custom"
    assert label["labelType"] == "USER_DEFINED"
    assert DATE.match(label["createdDate"])
    assert label["updatedDate"] == label["createdDate"]
    assert again.json() == {"label": label, "newLabel": False}


def test_find_or_create_matches_exactly(sandbox):
    upper = create_label(sandbox, "VIP")
    lower = create_label(sandbox, "vip")
    spaced = create_label(sandbox, "VIP ")

    assert (upper["key"], lower["key"], spaced["key"]) == (
        "custom.vip",
        "custom.vip-2",
        "custom.vip-3",
    )
    assert find_or_create(sandbox, "vip").json()["label"]["key"] == "custom.vip-2"


def test_find_or_create_returns_a_system_label_by_name(sandbox):
    response = find_or_create(sandbox, "Customers")

    assert response.json()["newLabel"] is False
    assert response.json()["label"]["key"] == "contacts.customers"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Spring Sale 2024!", "custom.spring-sale-2024"),
        ("Café & Co", "custom.caf-co"),
        ("!!", "custom.label"),
    ],
)
def test_new_keys_are_slugs(sandbox, name, key):
    assert create_label(sandbox, name)["key"] == key


def test_display_name_length_limit(sandbox):
    longest = find_or_create(sandbox, "x" * 180)
    assert longest.status_code == 200
    assert len(longest.json()["label"]["key"]) <= 80  # keys are 1..80 characters
    again = find_or_create(sandbox, "x" * 179)
    assert len(again.json()["label"]["key"]) <= 80
    assert again.json()["label"]["key"] != longest.json()["label"]["key"]
    too_long = violation(find_or_create(sandbox, "y" * 181))

    assert too_long["field"] == "displayName"
    assert too_long["violatedRule"] == "MAX_LENGTH"


@pytest.mark.parametrize(
    "body", [{}, {"displayName": ""}, {"displayName": "   "}, {"displayName": 5}]
)
def test_find_or_create_rejects_bad_names(sandbox, body):
    assert (
        violation(sandbox.api("POST", "/contacts/v4/labels", json=body))["field"] == "displayName"
    )


def test_get_label_and_unknown_key(sandbox):
    label = create_label(sandbox, "Lead")

    assert sandbox.api("GET", "/contacts/v4/labels/custom.lead").json() == {"label": label}
    missing = sandbox.api("GET", "/contacts/v4/labels/custom.nope")
    assert missing.status_code == 404
    assert app_code(missing) == "NOT_FOUND"


def test_rename_keeps_the_key_and_moves_updated_date(sandbox):
    label = create_label(sandbox, "Old Name")

    response = sandbox.api(
        "PATCH", "/contacts/v4/labels/custom.old-name", json={"label": {"displayName": "New Name"}}
    )

    renamed = response.json()["label"]
    assert renamed["key"] == "custom.old-name"
    assert renamed["displayName"] == "New Name"
    assert renamed["updatedDate"] > label["updatedDate"]
    assert renamed["createdDate"] == label["createdDate"]
    # The old name is free again, but its slug's key is taken, so a new key is minted.
    assert create_label(sandbox, "Old Name")["key"] == "custom.old-name-2"


def test_rename_conflicts_and_validation(sandbox):
    create_label(sandbox, "A")
    create_label(sandbox, "B")

    taken = sandbox.api(
        "PATCH", "/contacts/v4/labels/custom.a", json={"label": {"displayName": "B"}}
    )
    top_level = sandbox.api("PATCH", "/contacts/v4/labels/custom.a", json={"displayName": "C"})
    too_long = sandbox.api(
        "PATCH", "/contacts/v4/labels/custom.a", json={"label": {"displayName": "z" * 181}}
    )
    unknown = sandbox.api(
        "PATCH", "/contacts/v4/labels/custom.zz", json={"label": {"displayName": "Q"}}
    )

    assert taken.status_code == 409
    assert app_code(taken) == "LABEL_ALREADY_EXISTS"
    assert violation(top_level)["field"] == "label.displayName"
    assert violation(too_long)["field"] == "label.displayName"
    assert unknown.status_code == 404


def test_keys_are_never_reused(sandbox):
    first = create_label(sandbox, "Temp")
    assert sandbox.api("DELETE", "/contacts/v4/labels/custom.temp").json() == {}

    second = create_label(sandbox, "Temp")

    assert first["key"] == "custom.temp"
    assert second["key"] == "custom.temp-2"
    assert sandbox.api("GET", "/contacts/v4/labels/custom.temp").status_code == 404


def test_delete_removes_the_label_from_every_contact(sandbox):
    create_label(sandbox, "Gone")
    create_label(sandbox, "Stays")
    info = {"labelKeys": {"items": ["custom.gone", "custom.stays"]}}
    contact = sandbox.api("POST", "/contacts/v4/contacts", json={"info": info}).json()["contact"]

    sandbox.api("DELETE", "/contacts/v4/labels/custom.gone")

    after = sandbox.api("GET", f"/contacts/v4/contacts/{contact['id']}").json()["contact"]
    assert after["info"]["labelKeys"]["items"] == ["custom.stays"]
    assert after["revision"] == contact["revision"] + 1
    assert after["updatedDate"] > contact["updatedDate"]
    assert sandbox.dump()["contacts"][0]["labelKeys"] == ["custom.stays"]


@pytest.mark.parametrize("key", ["contacts.customers", "contacts.contacted-me"])
def test_system_labels_are_read_only(sandbox, key):
    label = sandbox.api("GET", f"/contacts/v4/labels/{key}").json()["label"]
    rename = sandbox.api(
        "PATCH", f"/contacts/v4/labels/{key}", json={"label": {"displayName": "X"}}
    )
    delete = sandbox.api("DELETE", f"/contacts/v4/labels/{key}")

    assert label["labelType"] == "SYSTEM"
    assert label["namespace"] == "contacts"
    assert "createdDate" not in label
    assert (rename.status_code, app_code(rename)) == (400, "SYSTEM_LABEL_READ_ONLY")
    assert (delete.status_code, app_code(delete)) == (400, "SYSTEM_LABEL_READ_ONLY")


def test_list_limits(sandbox):
    sandbox.reset(labels=2100)

    default = sandbox.api("GET", "/contacts/v4/labels").json()
    biggest = sandbox.api("GET", "/contacts/v4/labels", params={"paging.limit": 2000}).json()
    too_big = sandbox.api("GET", "/contacts/v4/labels", params={"paging.limit": 2001})
    tail = sandbox.api("GET", "/contacts/v4/labels", params={"paging.offset": 2000}).json()

    assert len(default["labels"]) == 1000
    assert default["metadata"] == {
        "count": 1000,
        "offset": 0,
        "total": 2102,
        "tooManyToCount": False,
    }
    assert len(biggest["labels"]) == 2000
    assert violation(too_big)["field"] == "paging.limit"
    assert tail["metadata"]["count"] == 102


def test_list_filters_and_sort(sandbox):
    made = [create_label(sandbox, name) for name in ("Beta", "alpha", "Alpha Two", "Gamma")]
    # Wix's default order: newest first; ties (labels made within one millisecond) by key.
    newest_first = [
        label["displayName"]
        for label in sorted(
            sorted(made, key=lambda x: x["key"]), key=lambda x: x["createdDate"], reverse=True
        )
    ]

    def names(**params):
        response = sandbox.api("GET", "/contacts/v4/labels", params=params)
        return [label["displayName"] for label in response.json()["labels"]]

    # Without dates, system labels come last, by key.
    assert names(labelType="SYSTEM") == ["Contacted Me", "Customers"]
    assert names()[-2:] == ["Contacted Me", "Customers"]
    assert names(namespace="custom") == newest_first
    # Not case-sensitive, as Wix's $startsWith.
    assert sorted(names(startsWith="al")) == ["Alpha Two", "alpha"]
    assert names(namespace="custom", **{"sort.fieldName": "displayName", "sort.order": "DESC"}) == [
        "alpha",
        "Gamma",
        "Beta",
        "Alpha Two",
    ]
    bad = sandbox.api("GET", "/contacts/v4/labels", params={"sort.fieldName": "key"})
    assert violation(bad)["field"] == "sort.fieldName"


def query(sandbox, **query_body):
    return sandbox.api("POST", "/contacts/v4/labels/query", json={"query": query_body})


def test_query_filters(sandbox):
    made = [create_label(sandbox, name) for name in ("Referral Spring", "Referral Fall", "Other")]
    first = made[0]

    def keys(filter_, sort=None):
        response = query(sandbox, filter=filter_, sort=sort or [])
        assert response.status_code == 200, response.text
        return [label["key"] for label in response.json()["labels"]]

    referrals = sorted(
        sorted(made[:2], key=lambda label: label["key"]),
        key=lambda label: label["createdDate"],
        reverse=True,
    )
    assert keys({"displayName": {"$startsWith": "Referral"}}) == [x["key"] for x in referrals]
    assert keys({"displayName": {"$startsWith": "rEFERRAL"}}) == [x["key"] for x in referrals]
    assert keys({"displayName": "Other"}) == ["custom.other"]
    assert keys({"key": {"$in": ["custom.other", "contacts.customers"]}}) == [
        "custom.other",  # newest first: system labels have no date and come last
        "contacts.customers",
    ]
    assert keys({"labelType": {"$eq": "SYSTEM"}, "key": {"$ne": "contacts.customers"}}) == [
        "contacts.contacted-me"
    ]
    # Labels made within one millisecond share a createdDate, so expect from the dates.
    newest_first = sorted(
        sorted(made, key=lambda label: label["key"]),
        key=lambda label: label["createdDate"],
        reverse=True,
    )
    later = [label["key"] for label in newest_first if label["createdDate"] > first["createdDate"]]
    after = {"createdDate": {"$gt": first["createdDate"]}, "namespace": {"$eq": "custom"}}
    assert keys(after) == later
    assert keys({"namespace": "custom"}, [{"fieldName": "displayName", "order": "DESC"}]) == [
        "custom.referral-spring",
        "custom.referral-fall",
        "custom.other",
    ]


def test_query_paging_and_errors(sandbox):
    sandbox.reset(labels=1200)

    default = query(sandbox).json()
    page = query(sandbox, paging={"limit": 1000, "offset": 100}).json()

    assert len(default["labels"]) == 50
    assert default["pagingMetadata"]["total"] == 1202
    assert page["pagingMetadata"] == {
        "count": 1000,
        "offset": 100,
        "total": 1202,
        "tooManyToCount": False,
    }
    assert violation(query(sandbox, paging={"limit": 1001}))["field"] == "query.paging.limit"
    assert query(sandbox, filter={"key": {"$startsWith": "c"}}).status_code == 400
    assert query(sandbox, filter={"color": "red"}).status_code == 400
    assert query(sandbox, sort=[{"fieldName": "key"}]).status_code == 400


def test_label_quota():
    with SandboxProcess(labels=2, extra_args=["--label-quota", "3"]) as sandbox:
        assert find_or_create(sandbox, "Third").status_code == 200
        refused = find_or_create(sandbox, "Fourth")
        existing = find_or_create(sandbox, "Third")

    assert refused.status_code == 428
    error = refused.json()["details"]["applicationError"]
    assert error["code"] == "LABELS_QUOTA_REACHED"
    assert error["data"] == {"labelsQuota": "3", "labelsCurrentTotal": "3"}
    assert existing.json()["newLabel"] is False
