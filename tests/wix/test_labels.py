import pytest

from labelsite.wix import (
    WixConflict,
    WixNotFound,
    WixQuotaExceeded,
    WixValidationError,
)
from labelsite.wix.records import LabelsPage, WixLabel

SYSTEM_KEYS = {"contacts.customers", "contacts.contacted-me"}


def test_find_or_create_creates_once_then_finds(wix, sandbox):
    label, created = wix.find_or_create_label("VIP Customer")
    again, created_again = wix.find_or_create_label("VIP Customer")

    assert created is True
    assert created_again is False
    assert isinstance(label, WixLabel)
    assert label.key == again.key == "custom.vip-customer"
    assert label.display_name == "VIP Customer"
    assert label.type == "USER_DEFINED"
    assert label.namespace == "custom"
    assert label.created_date is not None
    assert label.created_date.tzinfo is not None
    assert [lbl["key"] for lbl in sandbox.dump()["labels"]].count("custom.vip-customer") == 1


def test_get_rename_and_delete_label(wix):
    label, _ = wix.find_or_create_label("At Risk")

    assert wix.get_label(label.key) == label
    renamed = wix.rename_label(label.key, "Churn Risk")
    assert renamed.key == label.key
    assert renamed.display_name == "Churn Risk"
    assert wix.get_label(label.key).display_name == "Churn Risk"

    assert wix.delete_label(label.key) is None
    with pytest.raises(WixNotFound) as info:
        wix.get_label(label.key)
    assert info.value.status == 404
    assert info.value.code == "NOT_FOUND"


def test_deleting_a_missing_label_is_not_found(wix):
    with pytest.raises(WixNotFound):
        wix.delete_label("custom.never-was")


def test_query_labels_filters_sorts_and_pages(wix):
    for name in ("Alpha", "Beta", "Alps"):
        wix.find_or_create_label(name)

    everything = wix.query_labels()
    assert isinstance(everything, LabelsPage)
    assert {lbl.key for lbl in everything.labels} == SYSTEM_KEYS | {
        "custom.alpha",
        "custom.beta",
        "custom.alps",
    }
    assert everything.paging.total == 5

    system = wix.query_labels(filter={"labelType": {"$eq": "SYSTEM"}})
    assert {lbl.key for lbl in system.labels} == SYSTEM_KEYS
    assert {lbl.type for lbl in system.labels} == {"SYSTEM"}

    custom = wix.query_labels(
        filter={"namespace": {"$eq": "custom"}},
        sort=[{"fieldName": "displayName", "order": "DESC"}],
    )
    assert [lbl.display_name for lbl in custom.labels] == ["Beta", "Alps", "Alpha"]

    prefixed = wix.query_labels(
        filter={"displayName": {"$startsWith": "Al"}},
        sort=[{"fieldName": "displayName", "order": "ASC"}],
    )
    assert [lbl.display_name for lbl in prefixed.labels] == ["Alpha", "Alps"]

    exact = wix.query_labels(filter={"displayName": {"$eq": "Beta"}})
    assert [lbl.key for lbl in exact.labels] == ["custom.beta"]

    page = wix.query_labels(
        filter={"namespace": {"$eq": "custom"}},
        sort=[{"fieldName": "displayName", "order": "ASC"}],
        limit=1,
        offset=1,
    )
    assert [lbl.display_name for lbl in page.labels] == ["Alps"]
    assert (page.paging.offset, page.paging.total) == (1, 3)


def test_iter_labels_walks_every_page(wix, sandbox):
    sandbox.reset(labels=2300, seed=4)

    labels = list(wix.iter_labels(page_size=1000))
    keys = [label.key for label in labels]

    assert all(isinstance(label, WixLabel) for label in labels)
    assert len(keys) == len(set(keys))
    assert set(keys) == {label["key"] for label in sandbox.dump()["labels"]}
    assert len(keys) == 2302
    assert wix.request_count == 3


def test_iter_labels_with_small_pages(wix, sandbox):
    for i in range(11):
        wix.find_or_create_label(f"Group {i}")

    keys = [label.key for label in wix.iter_labels(page_size=4)]

    assert sorted(keys) == sorted(label["key"] for label in sandbox.dump()["labels"])
    assert len(keys) == 13


@pytest.mark.parametrize("name", ["", "   ", "x" * 181])
def test_bad_display_name_is_a_validation_error(wix, name):
    with pytest.raises(WixValidationError) as info:
        wix.find_or_create_label(name)

    assert info.value.status == 400
    assert [v["field"] for v in info.value.field_violations] == ["displayName"]
    assert "displayName" in str(info.value)
    assert str(info.value).endswith("Nothing was changed; correct it and try again.")


def test_renaming_to_an_existing_name_is_a_conflict(wix):
    first, _ = wix.find_or_create_label("One")
    wix.find_or_create_label("Two")

    with pytest.raises(WixConflict) as info:
        wix.rename_label(first.key, "Two")

    assert info.value.status == 409
    assert info.value.code == "LABEL_ALREADY_EXISTS"
    assert wix.get_label(first.key).display_name == "One"


def test_system_labels_are_read_only(wix):
    with pytest.raises(WixValidationError) as info:
        wix.delete_label("contacts.customers")

    assert info.value.code == "SYSTEM_LABEL_READ_ONLY"
    customers = wix.get_label("contacts.customers")
    assert customers.display_name == "Customers"
    assert customers.type == "SYSTEM"


def test_label_quota_is_quota_exceeded(make_client, quota_sandbox):
    wix = make_client(
        base_url=quota_sandbox.url,
        api_key=quota_sandbox.api_key,
        site_id=quota_sandbox.site_id,
    )
    for i in range(3):
        wix.find_or_create_label(f"Fill {i}")

    with pytest.raises(WixQuotaExceeded) as info:
        wix.find_or_create_label("One too many")

    error = info.value
    assert error.status == 428
    assert error.code == "LABELS_QUOTA_REACHED"
    assert error.data == {"labelsQuota": "3", "labelsCurrentTotal": "3"}
    assert "maximum of 3 labels" in str(error)
    assert wix.retry_count == 0
