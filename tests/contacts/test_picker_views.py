"""The label picker's endpoints, the newest-first order, and what the contact page's answers
carry (the history and the picker's next key)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from tests.fixtures.users import HTMX
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db
PAGE = reverse("admin:contacts_contact_changelist")
SUGGEST = reverse("admin:contacts_contact_suggest")
CHIP = reverse("admin:contacts_contact_chip")


@pytest.fixture
def data():
    names = ["Partner", "VIP Customer", "VIP", "Very important", "Past VIP buyers"]
    labels = {
        name: Label.objects.create(
            key=f"custom.{i}-{name.lower().replace(' ', '-')}", display_name=name, namespace="c"
        )
        for i, name in enumerate(names)
    }
    start = datetime(2024, 1, 1, tzinfo=UTC)
    contacts = Contact.objects.bulk_create(
        Contact(
            wix_id=f"id{i:03d}",
            first_name=f"Person{i}",
            remote_created_at=start + timedelta(hours=i),
            remote_updated_at=start,
        )
        for i in range(60)
    )
    ContactLabel.objects.bulk_create(
        [ContactLabel(contact=c, label=labels["VIP"]) for c in contacts[:7]]
        + [ContactLabel(contact=c, label=labels["VIP Customer"]) for c in contacts[:1]]
    )
    return labels, contacts


def option_names(html: str) -> list[str]:
    return re.findall(r'<span class="picker-name">([^<]*)</span>', html)


def test_suggestions_are_options_best_match_first_with_counts(admin_client, data):
    html = admin_client.get(SUGGEST, {"label_q": "vip"}, headers=HTMX).content.decode()
    assert option_names(html) == ["VIP", "VIP Customer", "Past VIP buyers"]
    assert 'role="option"' in html
    assert '<span class="picker-count">7 contacts</span>' in html
    assert '<span class="picker-count">1 contact</span>' in html
    assert '<span class="picker-count">0 contacts</span>' in html
    assert "<html" not in html


def test_suggestions_leave_out_the_chosen_labels(admin_client, data):
    labels, _ = data
    html = admin_client.get(
        SUGGEST,
        {"label_q": "vip", "exclude": [labels["VIP"].key, labels["Past VIP buyers"].key]},
        headers=HTMX,
    ).content.decode()
    assert option_names(html) == ["VIP Customer"]


@pytest.mark.parametrize(
    "params",
    [{"label_q": "x" * 181}, {"label_q": "a\x00"}, {"exclude": "k\x00"}, {"exclude": ["k"] * 251}],
)
def test_unreadable_questions_get_no_options(admin_client, data, params):
    response = admin_client.get(SUGGEST, params, headers=HTMX)
    assert response.status_code == 200
    assert option_names(response.content.decode()) == []


def test_a_chip_belongs_to_its_form_and_only_rule_chips_refresh_the_results(admin_client, data):
    labels, _ = data
    vip = labels["VIP"]
    rule = admin_client.get(CHIP, {"key": vip.key, "group": "none"}, headers=HTMX)
    html = rule.content.decode()
    assert f'<input type="hidden" name="none" value="{vip.key}" form="segment-form">' in html
    assert "chip-in-none" in html
    assert "data-picker" not in html  # the picker itself is never sent again
    assert "segmentChanged" in rule["HX-Trigger-After-Settle"]
    bulk = admin_client.get(CHIP, {"key": vip.key, "group": "remove"}, headers=HTMX)
    assert f'name="remove" value="{vip.key}" form="bulk-form"' in bulk.content.decode()
    assert "HX-Trigger-After-Settle" not in bulk


def test_newest_first_pages_backwards_through_the_same_index(admin_client, data):
    _, contacts = data
    newest = [c.wix_id for c in reversed(contacts)]
    first = admin_client.get(PAGE, {"sort": "-created"}, headers=HTMX)
    assert [c.wix_id for c in first.context["page"].contacts] == newest[:25]
    assert "sort=-created" in first["HX-Push-Url"]
    assert "sort=-created" in first.context["next_url"]
    second = admin_client.get(first.context["next_url"], headers=HTMX)
    assert [c.wix_id for c in second.context["page"].contacts] == newest[25:50]
    back = admin_client.get(second.context["previous_url"], headers=HTMX)
    assert [c.wix_id for c in back.context["page"].contacts] == newest[:25]
    html = first.content.decode()
    assert 'aria-sort="descending"' in html
    assert '<input type="hidden" name="sort" value="-created" form="segment-form">' in html
    # The header link turns the order back, keeping nothing else but the rules.
    assert first.context["sort_columns"]["created"]["url"] == PAGE
    assert first.context["sort_columns"]["name"]["url"] == f"{PAGE}?sort=name"


def test_name_sort_follows_the_name_shown_and_email_sort_puts_no_email_last(admin_client):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    people = [
        # (wix id, first, last, email, phone): the name shown is the name, else email, phone, id
        ("w1", "zoe", "", "a@x.test", ""),
        ("w2", "", "", "mia@x.test", ""),
        ("w3", "Bea", "Tilde~Quist", "", ""),
        ("w4", "", "", "", "555"),
        ("w5", "ada", "", "C@x.test", ""),
        ("w6", "", "", "", ""),
    ]
    Contact.objects.bulk_create(
        Contact(
            wix_id=wix_id,
            first_name=first,
            last_name=last,
            email=email,
            phone=phone,
            remote_created_at=start + timedelta(hours=n),
            remote_updated_at=start,
        )
        for n, (wix_id, first, last, email, phone) in enumerate(people)
    )

    def walk(sort: str) -> list[str]:
        page = admin_client.get(PAGE, {"sort": sort}, headers=HTMX).context["page"]
        return [c.wix_id for c in page.contacts]

    assert walk("name") == ["w4", "w5", "w3", "w2", "w6", "w1"]
    assert walk("-name") == ["w1", "w6", "w2", "w3", "w5", "w4"]
    assert walk("email") == ["w1", "w5", "w2", "w3", "w4", "w6"]
    assert walk("-email") == ["w6", "w4", "w3", "w2", "w5", "w1"]


def test_pages_sorted_by_name_turn_through_cursors_forwards_and_back(admin_client, data):
    _, contacts = data
    by_name = sorted(contacts, key=lambda c: (c.first_name.lower(), c.wix_id))
    want = [c.wix_id for c in by_name]
    first = admin_client.get(PAGE, {"sort": "name"}, headers=HTMX)
    assert [c.wix_id for c in first.context["page"].contacts] == want[:25]
    html = first.content.decode()
    assert 'aria-sort="ascending"' in html
    assert "Sort by name, Z to A" in html
    second = admin_client.get(first.context["next_url"], headers=HTMX)
    assert [c.wix_id for c in second.context["page"].contacts] == want[25:50]
    back = admin_client.get(second.context["previous_url"], headers=HTMX)
    assert [c.wix_id for c in back.context["page"].contacts] == want[:25]
    # A cursor written for another order is refused plainly, not misread.
    assert first.context["page"].next_cursor.sort == "name"
    assert "after=name%3Aperson30~id030" in first.context["next_url"]
    for sort, cursor in [
        ("created", "name:person1~id001"),
        ("name", "2024-01-01T00:00:00+00:00~id001"),
        ("name", "email:person1~id001"),
        ("-email", "name:person1~id001"),
    ]:
        mixed = admin_client.get(PAGE, {"sort": sort, "after": cursor}, headers=HTMX)
        assert "This page position is not valid." in mixed.content.decode(), (sort, cursor)


def test_an_unknown_order_is_a_plain_message(admin_client, data):
    html = admin_client.get(PAGE, {"sort": "email; drop"}).content.decode()
    assert "These rules could not be read" in html


def test_the_pages_carry_no_inline_script_or_style(admin_client, data):
    _, contacts = data
    for url in (PAGE, reverse("admin:contacts_contact_change", args=[contacts[0].pk])):
        html = admin_client.get(url).content.decode()
        assert " style=" not in html
        assert " onclick=" not in html
        assert not re.search(r"<script(?![^>]*\bsrc=)", html)
        assert 'role="combobox"' in html


def test_each_contact_answer_brings_the_history_and_a_new_key(
    admin_client, wix_settings, sandbox, sync_client
):
    from sync.service import sync_wix

    sandbox.reset(contacts=3, labels=4, seed=4)
    sync_wix(kind="full", client=sync_client)
    contact = Contact.objects.first()
    lacking = list(Label.objects.exclude(contacts=contact).filter(namespace="custom")[:2])
    page = admin_client.get(reverse("admin:contacts_contact_change", args=[contact.pk]))
    key = re.search(
        r'<span id="contact-label-key"><input type="hidden" name="idempotency_key" value="(\w+)">',
        page.content.decode(),
    ).group(1)
    add = reverse("admin:contacts_contact_label_add", args=[contact.pk])
    keys = {key}
    for label in lacking:
        answer = admin_client.post(
            add, {"key": label.key, "idempotency_key": key}, headers=HTMX
        ).content.decode()
        assert '<div id="contact-labels"' in answer
        assert '<div id="contact-history" hx-swap-oob="true">' in answer
        assert f"Added label “{label}”" in answer
        key = re.search(
            r'<span id="contact-label-key" hx-swap-oob="true"><input type="hidden" '
            r'name="idempotency_key" value="(\w+)">',
            answer,
        ).group(1)
        assert key not in keys
        keys.add(key)
    assert set(contact.labels.values_list("key", flat=True)) >= {lb.key for lb in lacking}


def test_a_bad_page_position_beside_a_label_rule_is_a_message_not_an_error(admin_client, data):
    labels, _ = data
    for sort in ("created", "name", "nonsense"):
        response = admin_client.get(
            PAGE, {"all": [labels["VIP"].key, "custom.gone"], "after": "0", "sort": sort}
        )
        assert response.status_code == 200
        assert "This page position is not valid." in response.content.decode()
