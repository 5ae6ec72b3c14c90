"""The contacts page in Chromium: build an audience, page, bulk label, save, export, Wix label."""

import csv
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from contacts.export import HEADER
from contacts.models import Audience
from contacts.segments import SegmentRules
from contacts.selectors import contact_count_for_segment, contact_list_for_segment
from sync.service import sync_wix
from tests.fixtures.users import make_user
from wixcache.models import Contact, Label

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def synced(wix_settings, sandbox, sync_client):
    sandbox.reset(contacts=400, labels=12, seed=11)
    sync_wix(kind="full", client=sync_client)
    return sandbox


@pytest.fixture
def admin_user(transactional_db):
    return make_user("boss", superuser=True)


def by_use():
    from django.db.models import Count

    return list(Label.objects.annotate(n=Count("contactlabel")).order_by("-n"))


def pick(page, group: str, label: Label) -> None:
    picker = page.locator(f"#picker-{group}")
    picker.fill(label.display_name)
    page.locator(f"#picker-{group}-list").get_by_role("option").filter(
        has=page.get_by_text(label.display_name, exact=True)
    ).click()
    expect(page.locator(f"#chips-{group}")).to_contain_text(label.display_name)
    # The results refresh that follows a chip runs on the form; let it land before typing on.
    expect(page.locator("#segment-form")).not_to_have_class(re.compile("htmx-request"))


def count_text(n: int) -> str:
    return f"{n:,} contact{'s' if n != 1 else ''}"


def test_build_an_audience_page_through_it_and_save_it(page, login, admin_user, synced):
    labels = by_use()
    login(admin_user)
    page.goto("/admin/contacts/contact/")
    expect(page.locator("#contact-count")).to_have_text("400 contacts")
    pick(page, "all", labels[0])
    pick(page, "any", labels[1])
    pick(page, "any", labels[2])
    pick(page, "none", labels[3])
    rules = SegmentRules(
        all_of=(labels[0].key,), any_of=(labels[1].key, labels[2].key), none_of=(labels[3].key,)
    )
    expect(page.locator("#contact-count")).to_have_text(
        count_text(contact_count_for_segment(rules=rules))
    )
    page.locator("#id_q").fill("a")
    rules = SegmentRules(
        **{
            **rules.as_json(),
            "all_of": rules.all_of,
            "any_of": rules.any_of,
            "none_of": rules.none_of,
            "search": "a",
        }
    )
    total = contact_count_for_segment(rules=rules)
    expect(page.locator("#contact-count")).to_have_text(count_text(total))
    assert total > 25
    expect(page).to_have_url(re.compile(r"q=a"))
    want = list(contact_list_for_segment(rules=rules).values_list("email", flat=True))
    page.get_by_role("link", name=re.compile("^Next")).click()
    expect(page.locator(".page-position")).to_have_text(re.compile("Page 2 of"))
    expect(page.locator("#result_list tbody tr").first).to_contain_text(want[25])
    page.reload()  # the address keeps the audience and the page
    expect(page.locator("#chips-none")).to_contain_text(labels[3].display_name)
    expect(page.locator("#result_list tbody tr").first).to_contain_text(want[25])

    page.get_by_text("Save as audience").click()
    page.get_by_label("Name").fill("Spring VIPs")
    page.get_by_role("button", name="Save as new audience").click()
    expect(page.locator("h1")).to_have_text("Audience: Spring VIPs")
    audience = Audience.objects.get()
    assert SegmentRules.from_json(audience.rules) == rules


def test_select_all_matching_bulk_add_with_progress(page, login, admin_user, synced, task_worker):
    labels = by_use()
    target = labels[-1]
    rules = SegmentRules(all_of=(labels[0].key,))
    matching = set(contact_list_for_segment(rules=rules).values_list("wix_id", flat=True))
    login(admin_user)
    page.goto(f"/admin/contacts/contact/?all={labels[0].key}")
    page.locator("#select-all-matching").check()
    pick(page, "add", target)
    page.get_by_role("button", name="Preview change").click()
    lacking = {
        w
        for w in matching
        if not Contact.objects.get(wix_id=w).labels.filter(pk=target.pk).exists()
    }
    expect(page.locator("#bulk-panel")).to_contain_text(f"{len(lacking)} of {len(matching)}")
    page.get_by_role("button", name=re.compile("Apply to")).click()
    expect(page.locator("#bulk-panel progress")).to_be_visible()
    expect(page.locator("#bulk-panel")).to_contain_text("Done", timeout=30_000)
    remote = {c["id"]: c["labelKeys"] for c in synced.dump()["contacts"]}
    assert all(target.key in remote[w] for w in matching)
    assert set(Contact.objects.filter(labels=target).values_list("wix_id", flat=True)) >= matching


def test_export_csv_of_the_audience(page, login, admin_user, synced):
    label = by_use()[0]
    rules = SegmentRules(all_of=(label.key,))
    want = list(contact_list_for_segment(rules=rules).values_list("email", flat=True))
    login(admin_user)
    page.goto(f"/admin/contacts/contact/?all={label.key}")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="UTF-8").click()
    path = download_info.value.path()
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert (
        download_info.value.suggested_filename == f"contacts-{timezone.localdate().isoformat()}.csv"
    )
    assert rows[0] == HEADER  # spelled out in test_export
    assert [r[2] for r in rows[1:]] == [
        e if not e.startswith(("=", "+", "-", "@")) else f"'{e}" for e in want
    ]
    assert all(label.display_name in r[4] for r in rows[1:])


def test_save_audience_as_wix_label(page, login, admin_user, synced, task_worker):
    label = by_use()[1]
    rules = SegmentRules(all_of=(label.key,))
    audience = Audience.objects.create(
        name="Campaign target", rules=rules.as_json(), created_by=admin_user
    )
    matching = set(contact_list_for_segment(rules=rules).values_list("wix_id", flat=True))
    login(admin_user)
    page.goto(f"/admin/contacts/contact/?{rules.querystring(audience=audience.pk)}")
    page.get_by_text("Save as Wix label", exact=True).click()  # folded away until wanted
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.locator("#wix-label")).to_contain_text(f"{len(matching)} contacts will get it")
    page.get_by_role("button", name="Save as Wix label").click()
    expect(page.locator("#wix-label")).to_contain_text("Done", timeout=30_000)
    dump = synced.dump()
    new = [lb for lb in dump["labels"] if lb["displayName"] == "Campaign target"]
    assert len(new) == 1
    having = {c["id"] for c in dump["contacts"] if new[0]["key"] in c["labelKeys"]}
    assert having == matching


def test_contact_inline_label_edit(page, login, admin_user, synced):
    contact = Contact.objects.first()
    label = Label.objects.filter(namespace="custom").exclude(contactlabel__contact=contact).first()
    login(admin_user)
    page.goto(f"/admin/contacts/contact/{contact.pk}/change/")
    page.get_by_label("Add a label").fill(label.display_name)
    page.locator("#picker-contact-list").get_by_role("option").filter(
        has=page.get_by_text(label.display_name, exact=True)
    ).click()
    chips = page.locator("#contact-labels .chips")
    expect(chips).to_contain_text(label.display_name)
    expect(page.locator(".contact-history")).to_contain_text(f"Added label “{label.display_name}”")
    remote = {c["id"]: c["labelKeys"] for c in synced.dump()["contacts"]}
    assert label.key in remote[contact.wix_id]
    page.get_by_role("button", name=f"Remove label {label.display_name}").click()
    expect(page.locator(".contact-history")).to_contain_text(
        f"Removed label “{label.display_name}”"
    )
    expect(chips).not_to_contain_text(label.display_name)
    remote = {c["id"]: c["labelKeys"] for c in synced.dump()["contacts"]}
    assert label.key not in remote[contact.wix_id]
