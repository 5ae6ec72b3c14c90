"""The contacts page's endpoints: partial rendering, query counts, permissions, export."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts.export import HEADER
from contacts.models import Audience
from contacts.segments import SegmentRules
from labels.models import LabelJob
from labelsite.spreadsheets import safe_cell
from sync.service import sync_wix
from tests.fixtures.users import HTMX, make_user
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db
PAGE = reverse("admin:contacts_contact_changelist")


@pytest.fixture
def data():
    vip = Label.objects.create(key="custom.vip", display_name="VIP", namespace="custom")
    spring = Label.objects.create(key="custom.spring", display_name="Spring", namespace="custom")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    contacts = Contact.objects.bulk_create(
        Contact(
            wix_id=f"id{i:04d}",
            first_name=f"Ann{i}",
            last_name="Smith",
            email=f"=cmd{i}@example.com" if i == 0 else f"ann{i}@example.com",
            phone="+1 555",
            remote_created_at=start + timedelta(minutes=i),
            remote_updated_at=start,
        )
        for i in range(450)
    )
    ContactLabel.objects.bulk_create(
        [ContactLabel(contact=c, label=vip) for c in contacts[::2]]
        + [ContactLabel(contact=c, label=spring) for c in contacts[::3]]
    )
    return contacts, vip, spring


@pytest.mark.parametrize("per_page", [25, 200])
def test_page_queries_are_few_and_do_not_grow_with_rows(admin_client, data, per_page):
    url = f"{PAGE}?all=custom.vip&none=custom.spring&q=ann&per_page={per_page}"
    with CaptureQueriesContext(connection) as full:
        response = admin_client.get(url)
    assert response.status_code == 200
    assert "150 contacts" in response.content.decode()
    assert response.content.decode().count('name="contact"') == min(per_page, 150)
    with CaptureQueriesContext(connection) as partial:
        response = admin_client.get(url, headers=HTMX)
    # Session, user, label lookup, count, page, chips: the page number of queries is fixed.
    assert len(full) <= 8
    assert len(partial) <= 8
    assert "<html" not in response.content.decode()
    assert 'id="results"' in response.content.decode()


@pytest.mark.parametrize("per_page", [25, 200])
def test_page_queries_stay_within_eight_with_and_without_a_cached_count(
    admin_client, data, django_assert_max_num_queries, per_page
):
    url = f"{PAGE}?all=custom.vip&any=custom.spring&any=custom.vip&per_page={per_page}"
    cache.clear()
    with django_assert_max_num_queries(8):
        cold = admin_client.get(url)
    with django_assert_max_num_queries(7):
        warm = admin_client.get(url)
    assert cold.context["count"] == warm.context["count"] == 225
    assert warm.content.decode().count('name="contact"') == min(per_page, 225)


def test_rows_show_escaped_chips_links_and_dates(admin_client, data):
    contacts, vip, _ = data
    vip.display_name = "<b>VIP</b>"
    vip.save()
    system = Label.objects.create(
        key="contacts.customers", display_name="Customers", label_type=Label.Type.SYSTEM
    )
    ContactLabel.objects.create(contact=contacts[0], label=system)
    body = admin_client.get(f"{PAGE}?all=custom.vip").content.decode()
    first = body.split('value="id0000"', 1)[1].split("</tr>", 1)[0]
    change = reverse("admin:contacts_contact_change", args=[contacts[0].pk])
    assert f'<a class="cell-text" href="{change}">Ann0 Smith</a>' in first
    vip_page = reverse("admin:labels_label_detail", args=["custom.vip"])
    customers_page = reverse("admin:labels_label_detail", args=["contacts.customers"])
    assert (
        f'<li class="chip"><a class="chip-name" href="{vip_page}">&lt;b&gt;VIP&lt;/b&gt;</a></li>'
        in first
    )
    assert (
        f'<li class="chip chip-system"><a class="chip-name" href="{customers_page}">Customers</a>'
        "</li>" in first
    )
    assert ">2024-01-01<" in first
    assert "<b>VIP</b>" not in body


def test_page_turns_carry_the_count_and_stay_in_order(admin_client, data):
    contacts, *_ = data
    first = admin_client.get(f"{PAGE}?all=custom.vip", headers=HTMX)
    next_url = first.context["next_url"]
    assert "count=225" in next_url
    with CaptureQueriesContext(connection) as queries:
        second = admin_client.get(next_url, headers=HTMX)
    assert not any("COUNT(" in q["sql"].upper() for q in queries)
    assert [c.wix_id for c in second.context["page"].contacts] == [
        c.wix_id for c in contacts[::2][25:50]
    ]
    assert "Page 2 of 9" in second.content.decode()
    # The address bar keeps the rules and position, not the carried count.
    assert "count=" not in second["HX-Push-Url"]
    assert "all=custom.vip" in second["HX-Push-Url"]


def test_malformed_parameters_show_a_message_not_an_error(admin_client, data):
    response = admin_client.get(f"{PAGE}?after=nonsense&per_page=7")
    assert response.status_code == 200
    assert "These rules could not be read" in response.content.decode()


def test_a_missing_label_in_all_of_matches_nobody_and_says_so(admin_client, data):
    html = admin_client.get(f"{PAGE}?all=custom.gone").content.decode()
    assert "“custom.gone” no longer exists" in html
    assert "this audience matches nobody" in html
    assert '<strong id="contact-count" class="contact-count">0 contacts</strong>' in html
    # The rule stays (as a chip that says the label is deleted), so nothing widens on a save.
    assert 'name="all" value="custom.gone"' in html
    assert "chip-missing" in html


def test_any_of_with_no_existing_label_matches_nobody(admin_client, data):
    html = admin_client.get(f"{PAGE}?any=custom.gone&any=custom.also-gone").content.decode()
    assert "None of the labels in ANY of exists any more" in html
    assert '<strong id="contact-count" class="contact-count">0 contacts</strong>' in html


def test_a_missing_label_in_none_of_excludes_nobody(admin_client, data):
    html = admin_client.get(f"{PAGE}?none=custom.gone").content.decode()
    assert "nobody has it to be left out" in html
    assert "450 contacts" in html


def test_viewing_needs_view_contact(client, data):
    client.force_login(make_user("marketing", "labels.view_label"))
    assert client.get(PAGE).status_code == 403
    assert (
        client.get(reverse("admin:contacts_contact_change", args=[data[0][0].pk])).status_code
        == 403
    )


def test_export_needs_its_permission(client, data):
    client.force_login(make_user("marketing", "contacts.view_contact"))
    response = client.get(reverse("admin:contacts_contact_export") + "?all=custom.vip")
    assert response.status_code == 403


def test_export_streams_the_audience_with_safe_cells(client, data):
    client.force_login(make_user("marketing", "contacts.view_contact", "contacts.export_contacts"))
    response = client.get(reverse("admin:contacts_contact_export") + "?all=custom.vip&excel=1")
    assert response.streaming
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0] == HEADER  # spelled out in test_export
    assert len(rows) == 1 + 225
    assert rows[1] == [
        "Ann0",
        "Smith",
        "'=cmd0@example.com",
        "'+1 555",
        "Spring; VIP",
        "2024-01-01 00:00",
        "id0000",
    ]
    assert rows[2][4] == "VIP"


def test_safe_cell_prefixes_formula_starts():
    assert [safe_cell(v) for v in ["=1", "+1", "-1", "@a", "ok", ""]] == [
        "'=1",
        "'+1",
        "'-1",
        "'@a",
        "ok",
        "",
    ]


def test_bulk_needs_label_contacts(client, data):
    client.force_login(make_user("marketing", "contacts.view_contact"))
    response = client.post(
        reverse("admin:contacts_contact_bulk_preview"),
        {"all": "custom.vip", "selection": "all", "add": "custom.spring"},
    )
    assert response.status_code == 403


def test_bulk_preview_and_start_resolve_the_rules_on_the_server(admin_client, data):
    contacts, *_ = data
    params = {"all": "custom.vip", "selection": "all", "add": "custom.spring"}
    preview = admin_client.post(
        reverse("admin:contacts_contact_bulk_preview"), params, headers=HTMX
    )
    # 225 have VIP; 75 of them (every sixth contact) already have Spring.
    assert "<strong>150</strong> of 225" in preview.content.decode()
    start = admin_client.post(reverse("admin:contacts_contact_bulk_start"), params, headers=HTMX)
    job = LabelJob.objects.get()
    assert f"job-progress-{job.pk}" in start.content.decode()
    assert job.add_keys == ["custom.spring"]
    assert sorted(job.contact_ids) == sorted(
        c.wix_id for i, c in enumerate(contacts) if i % 2 == 0 and i % 3 != 0
    )


def test_bulk_on_ticked_rows_keeps_only_those_matching(admin_client, data):
    contacts, *_ = data
    params = {
        "all": "custom.vip",
        "selection": "ids",
        "contact": [contacts[0].wix_id, contacts[1].wix_id, contacts[2].wix_id],
        "remove": "custom.vip",
    }
    admin_client.post(reverse("admin:contacts_contact_bulk_start"), params, headers=HTMX)
    assert sorted(LabelJob.objects.get().contact_ids) == [contacts[0].wix_id, contacts[2].wix_id]


def test_save_audience_and_list_it_with_a_live_count(admin_client, data):
    response = admin_client.post(
        reverse("admin:contacts_contact_save"),
        {"name": "VIPs not spring", "all": "custom.vip", "none": "custom.spring"},
        headers=HTMX,
    )
    audience = Audience.objects.get()
    assert audience.rules["all_of"] == ["custom.vip"]
    assert response["HX-Redirect"].endswith(f"audience={audience.pk}")
    listing = admin_client.get(reverse("admin:contacts_audience_changelist"))
    assert "VIPs not spring" in listing.content.decode()
    assert "150" in listing.content.decode()
    admin_client.post(
        reverse("admin:contacts_audience_duplicate", args=[audience.pk]), headers=HTMX
    )
    assert Audience.objects.filter(name="VIPs not spring (copy)").exists()


def test_contact_label_add_and_remove_write_wix_first(
    admin_client, wix_settings, sandbox, sync_client
):
    sandbox.reset(contacts=3, labels=3, seed=4)
    sync_wix(kind="full", client=sync_client)
    contact = Contact.objects.first()
    label = Label.objects.exclude(contactlabel__contact=contact).filter(namespace="custom").first()
    url = reverse("admin:contacts_contact_label_add", args=[contact.pk])
    response = admin_client.post(url, {"key": label.key}, headers=HTMX)
    assert response.status_code == 200
    remote = {c["id"]: c for c in sandbox.dump()["contacts"]}[contact.wix_id]
    assert label.key in remote["labelKeys"]
    assert contact.labels.filter(pk=label.pk).exists()
    assert f"Added label “{label}”" in response.content.decode()
    url = reverse("admin:contacts_contact_label_remove", args=[contact.pk])
    admin_client.post(url, {"key": label.key}, headers=HTMX)
    remote = {c["id"]: c for c in sandbox.dump()["contacts"]}[contact.wix_id]
    assert label.key not in remote["labelKeys"]
    assert not contact.labels.filter(pk=label.pk).exists()


def test_search_words_are_taken_once_whatever_their_case(admin_client, data):
    rules = SegmentRules(search="anna ANNA  Anna smith")
    assert rules.search == "anna smith"


def test_too_many_search_words_get_a_plain_message(admin_client, data):
    words = " ".join(f"w{i}" for i in range(9))
    html = admin_client.get(PAGE, {"q": words}).content.decode()
    assert "Search for at most 8 different words at a time; this search has 9." in html


def test_a_search_word_longer_than_any_name_gets_a_plain_message(admin_client, data):
    html = admin_client.get(PAGE, {"q": "x" * 81}).content.decode()
    assert "A search word can have at most 80 characters" in html


def test_a_name_another_audience_has_is_refused_whatever_its_case(admin_client, data):
    save = reverse("admin:contacts_contact_save")
    admin_client.post(save, {"name": "VIPs", "all": "custom.vip"}, headers=HTMX)
    first = Audience.objects.get()

    again = admin_client.post(save, {"name": "vips", "any": "custom.spring"}, headers=HTMX)

    assert "An audience named “vips” exists already; choose another name." in again.content.decode()
    assert Audience.objects.count() == 1
    # Saving the audience itself under its own name (or another case of it) is no clash.
    kept = admin_client.post(
        save, {"name": "VIPS", "all": "custom.vip", "audience": first.pk}, headers=HTMX
    )
    assert kept["HX-Redirect"].endswith(f"audience={first.pk}")
    assert Audience.objects.get().name == "VIPS"
    # Nor may the admin's name form take another's name.
    other = Audience.objects.create(name="Spring", rules={}, created_by=first.created_by)
    change = reverse("admin:contacts_audience_change", args=[other.pk])
    page = admin_client.post(change, {"name": "vips", "description": ""})
    assert "An audience named “vips” exists already" in page.content.decode()
    assert Audience.objects.get(pk=other.pk).name == "Spring"


def test_duplicates_get_names_of_their_own(admin_client, data):
    audience = Audience.objects.create(name="Fans", rules={"all_of": ["custom.vip"]})
    duplicate = reverse("admin:contacts_audience_duplicate", args=[audience.pk])
    for _ in range(3):
        admin_client.post(duplicate, headers=HTMX)
    names = sorted(Audience.objects.values_list("name", flat=True))
    assert names == ["Fans", "Fans (copy 2)", "Fans (copy 3)", "Fans (copy)"]
    long = Audience.objects.create(name="x" * 120, rules={})
    admin_client.post(reverse("admin:contacts_audience_duplicate", args=[long.pk]), headers=HTMX)
    assert Audience.objects.filter(name="x" * 113 + " (copy)").exists()


def test_audiences_that_share_a_name_from_before_may_keep_it(admin_client, data):
    """Duplicates were all named “X (copy)” before names were checked."""
    first = Audience.objects.create(name="Fans (copy)", rules={})
    Audience.objects.create(name="Fans (copy)", rules={})
    change = reverse("admin:contacts_audience_change", args=[first.pk])
    admin_client.post(change, {"name": "Fans (copy)", "description": "Kept"})
    assert Audience.objects.get(pk=first.pk).description == "Kept"


def test_names_are_not_checked_for_those_who_may_not_see_audiences(client, data):
    """Their refusal would tell them which audience names exist."""
    Audience.objects.create(name="Secret plan", rules={})
    client.force_login(make_user("saver", "contacts.view_contact", "contacts.add_audience"))
    response = client.post(
        reverse("admin:contacts_contact_save"),
        {"name": "secret plan", "all": "custom.vip"},
        headers=HTMX,
    )
    assert "exists already" not in response.content.decode()
    assert Audience.objects.filter(name__iexact="secret plan").count() == 2
