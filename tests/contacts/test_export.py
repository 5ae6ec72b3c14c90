"""CSV export: the file name (audience and day, safe ASCII, RFC 5987 for the rest) and the
columns an email tool's import wants."""

import csv
import io
from datetime import UTC, date, datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.export import export_content_disposition
from contacts.models import Audience
from tests.fixtures.users import make_user
from wixcache.models import Contact, ContactLabel, Label

EXPORT = reverse("admin:contacts_contact_export")
DAY = date(2026, 12, 2)


@pytest.mark.parametrize(
    ("name", "header"),
    [
        (None, 'attachment; filename="contacts-2026-12-02.csv"'),
        ("VIP customers", 'attachment; filename="vip-customers-2026-12-02.csv"'),
        (
            "  Spring / Summer: 50% off!  ",
            'attachment; filename="spring-summer-50-off-2026-12-02.csv"',
        ),
        (
            "Café VIP",
            'attachment; filename="cafe-vip-2026-12-02.csv"; '
            "filename*=UTF-8''caf%C3%A9-vip-2026-12-02.csv",
        ),
        (
            "Клиенты",
            'attachment; filename="audience-2026-12-02.csv"; '
            "filename*=UTF-8''%D0%BA%D0%BB%D0%B8%D0%B5%D0%BD%D1%82%D1%8B-2026-12-02.csv",
        ),
        ('"; evil.exe', 'attachment; filename="evilexe-2026-12-02.csv"'),
        ("!!!", 'attachment; filename="audience-2026-12-02.csv"'),
    ],
)
def test_the_file_name_comes_from_the_audience_and_the_day(name, header):
    assert export_content_disposition(audience_name=name, day=DAY) == header


@pytest.fixture
def people(db):
    vip = Label.objects.create(key="custom.vip", display_name="VIP", namespace="custom")
    when = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    ann = Contact.objects.create(
        wix_id="wix-ann",
        first_name="Ann",
        last_name="de la Cruz",
        email="ann@example.com",
        phone="+44 20 7946 0000",
        remote_created_at=when,
        remote_updated_at=when,
    )
    bob = Contact.objects.create(
        wix_id="wix-bob",
        first_name="=HYPERLINK()",
        last_name="",
        email="bob@example.com",
        remote_created_at=when,
        remote_updated_at=when,
    )
    ContactLabel.objects.create(contact=ann, label=vip)
    return ann, bob, vip


def _rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


def test_columns_for_an_import_first_and_last_name_apart_and_the_wix_id(client, people):
    client.force_login(make_user("m", "contacts.view_contact", "contacts.export_contacts"))
    response = client.get(EXPORT)
    rows = _rows(response)
    assert rows == [
        ["First name", "Last name", "Email", "Phone", "Labels", "Created", "Wix contact id"],
        [
            "Ann",
            "de la Cruz",
            "ann@example.com",
            "'+44 20 7946 0000",
            "VIP",
            "2026-03-04 05:06",
            "wix-ann",
        ],
        ["'=HYPERLINK()", "", "bob@example.com", "", "", "2026-03-04 05:06", "wix-bob"],
    ]
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="contacts-{today}.csv"'


def test_the_excel_file_keeps_its_byte_order_mark(client, people):
    client.force_login(make_user("m", "contacts.view_contact", "contacts.export_contacts"))
    body = b"".join(client.get(EXPORT, {"excel": "1"}).streaming_content)
    assert body.startswith("\ufeff".encode())
    assert body.decode("utf-8").lstrip("\ufeff").startswith("First name,Last name,")


def test_an_audience_export_is_named_after_it(client, people):
    owner = make_user(
        "m", "contacts.view_contact", "contacts.export_contacts", "contacts.view_audience"
    )
    audience = Audience.objects.create(
        name="VIP customers", rules={"all_of": ["custom.vip"]}, created_by=owner
    )
    client.force_login(owner)
    response = client.get(EXPORT, {"all": "custom.vip", "audience": audience.pk})
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="vip-customers-{today}.csv"'
    assert [row[-1] for row in _rows(response)[1:]] == ["wix-ann"]
    # Rules edited since the audience was saved are not the audience: the file says contacts.
    edited = client.get(EXPORT, {"all": "custom.vip", "q": "ann", "audience": audience.pk})
    assert edited["Content-Disposition"] == f'attachment; filename="contacts-{today}.csv"'


def test_an_audience_name_is_not_told_to_those_who_may_not_see_audiences(client, people):
    audience = Audience.objects.create(name="Secret plan", rules={})
    client.force_login(make_user("m", "contacts.view_contact", "contacts.export_contacts"))
    response = client.get(EXPORT, {"audience": audience.pk})
    assert "secret" not in response["Content-Disposition"]
    assert response["Content-Disposition"].startswith('attachment; filename="contacts-')


@pytest.mark.parametrize("audience", ["0", "x", "99999", "1" * 30])
def test_an_unknown_or_malformed_audience_falls_back_to_contacts(admin_client, people, audience):
    response = admin_client.get(EXPORT, {"audience": audience})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="contacts-')


def test_the_contacts_page_links_the_export_to_its_audience(admin_client, people, admin_user):
    audience = Audience.objects.create(
        name="VIP customers", rules={"all_of": ["custom.vip"]}, created_by=admin_user
    )
    html = admin_client.get(
        reverse("admin:contacts_contact_changelist"), {"all": "custom.vip", "audience": audience.pk}
    ).content.decode()
    assert f"{EXPORT}?all=custom.vip&amp;audience={audience.pk}" in html
    assert f"{EXPORT}?all=custom.vip&amp;audience={audience.pk}&amp;excel=1" in html
