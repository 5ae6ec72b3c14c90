"""Decoding Wix JSON into the frozen records, without any HTTP."""

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from labelsite.wix.records import (
    BulkJob,
    ContactsPage,
    LabelsPage,
    WixContact,
    WixLabel,
    wix_datetime,
)

CREATED = "2026-03-04T05:06:07.089Z"


def decode(data: bytes | str, type_):
    return msgspec.json.decode(data, type=type_)


def test_a_full_contact_gives_its_flat_view():
    contact = decode(
        """{"id": "c1", "revision": 3, "createdDate": "2026-03-04T05:06:07.089Z",
            "updatedDate": "2026-03-05T00:00:00.000Z",
            "info": {"name": {"first": "Ada", "last": "Lovelace"},
                     "labelKeys": {"items": ["custom.a", "contacts.customers"]},
                     "company": "ignored"},
            "primaryInfo": {"email": "ada@example.com", "phone": "+44 1"},
            "lastActivity": {"activityType": "ignored too"}}""",
        WixContact,
    )

    assert contact.id == "c1"
    assert contact.revision == 3
    assert (contact.first_name, contact.last_name) == ("Ada", "Lovelace")
    assert (contact.email, contact.phone) == ("ada@example.com", "+44 1")
    assert contact.label_keys == ("custom.a", "contacts.customers")
    assert contact.created_date == datetime(2026, 3, 4, 5, 6, 7, 89000, tzinfo=UTC)
    assert contact.changed_at == datetime(2026, 3, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "extra",
    [
        "",
        ', "info": null, "primaryInfo": null',
        ', "info": {"name": null, "labelKeys": null}, "primaryInfo": {}',
        ', "info": {"name": {"first": null, "last": null}, "labelKeys": {}}',
        ', "primaryInfo": {"email": null, "phone": null}',
    ],
)
def test_a_contact_with_null_or_missing_parts_reads_as_empty_strings(extra):
    contact = decode(f'{{"id": "c2", "createdDate": "{CREATED}"{extra}}}', WixContact)

    assert (contact.first_name, contact.last_name) == ("", "")
    assert (contact.email, contact.phone) == ("", "")
    assert contact.label_keys == ()
    assert contact.revision == 0
    assert contact.changed_at == contact.created_date


def test_a_contact_needs_an_id_and_a_created_date():
    with pytest.raises(msgspec.ValidationError, match="createdDate"):
        decode('{"id": "c3"}', WixContact)
    with pytest.raises(msgspec.ValidationError, match="id"):
        decode(f'{{"createdDate": "{CREATED}"}}', WixContact)
    with pytest.raises(msgspec.ValidationError):
        decode('{"id": "c3", "createdDate": "yesterday"}', WixContact)


def test_records_are_frozen():
    contact = decode(f'{{"id": "c4", "createdDate": "{CREATED}"}}', WixContact)
    label = WixLabel(key="custom.a")

    with pytest.raises(AttributeError):
        contact.id = "other"
    with pytest.raises(AttributeError):
        label.display_name = "B"
    assert hash(label) == hash(WixLabel(key="custom.a"))


def test_label_types_outside_the_known_three_read_as_unknown():
    labels = decode(
        """{"labels": [
            {"key": "contacts.customers", "displayName": "Customers", "labelType": "SYSTEM"},
            {"key": "custom.a", "labelType": "USER_DEFINED", "namespace": null},
            {"key": "app.b", "labelType": "SOMETHING_NEW"},
            {"key": "app.c", "labelType": null}
        ]}""",
        LabelsPage,
    ).labels

    assert [label.type for label in labels] == ["SYSTEM", "USER_DEFINED", "UNKNOWN", "UNKNOWN"]
    assert labels[0].display_name == "Customers"
    assert labels[1].display_name == ""
    assert labels[1].namespace is None


def test_a_labels_page_reads_either_paging_block():
    by_sdk = decode('{"labels": [], "pagingMetadata": {"total": 7, "offset": 2}}', LabelsPage)
    by_rest = decode('{"labels": [], "metadata": {"total": 5, "count": 0}}', LabelsPage)
    neither = decode('{"labels": [{"key": "custom.a"}]}', LabelsPage)

    assert (by_sdk.paging.total, by_sdk.paging.offset) == (7, 2)
    assert (by_rest.paging.total, by_rest.paging.count) == (5, 0)
    assert neither.paging is None
    assert neither.labels == (WixLabel(key="custom.a"),)


def test_a_contacts_page_total_is_none_without_paging_metadata():
    page = decode(
        f'{{"contacts": [{{"id": "c1", "createdDate": "{CREATED}"}}],'
        ' "pagingMetadata": {"total": 42, "tooManyToCount": false}}',
        ContactsPage,
    )

    assert page.total == 42
    assert page.paging_metadata.too_many_to_count is False
    assert [c.id for c in page.contacts] == ["c1"]
    assert decode("{}", ContactsPage).total is None
    assert decode("{}", ContactsPage).contacts == ()


def test_bulk_job_error_messages_read_strings_and_objects():
    job = decode(
        """{"id": "j1", "status": "COMPLETED", "successTotal": 3, "failedTotal": 3,
            "errors": ["plain text", {"message": "Contact c9 not found", "code": "NOT_FOUND"},
                       {"code": "ONLY_A_CODE"}]}""",
        BulkJob,
    )

    assert (job.status, job.success_total, job.failed_total) == ("COMPLETED", 3, 3)
    assert job.error_messages == ["plain text", "Contact c9 not found", "ONLY_A_CODE"]
    assert decode("{}", BulkJob).error_messages == []
    assert decode("{}", BulkJob).success_total == 0


def test_wix_datetime_writes_utc_milliseconds_with_z():
    local = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))

    assert wix_datetime(local) == "2026-01-01T10:00:00.123Z"
    assert decode(f'"{wix_datetime(local)}"', datetime) == local.replace(microsecond=123000)
