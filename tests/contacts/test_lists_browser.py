"""Label from a list in Chromium: from the contacts page, paste a list, read what it matched,
choose a label by keyboard, apply it with a live progress bar, undo it; and a CSV file upload."""

import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.fixtures.browser import htmx_settled, shot
from tests.fixtures.sandbox_data import wix_contacts_with
from wixcache.models import Contact, Label

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _quiet_label() -> Label:
    """A user label few contacts have: most of a list will gain it."""
    from django.db.models import Count

    labels = Label.objects.filter(label_type=Label.Type.USER_DEFINED)
    return labels.annotate(n=Count("contactlabel")).order_by("n", "key").first()


def test_label_a_pasted_list_by_keyboard_see_it_run_and_undo_it(
    page, login, marketer, synced, sandbox, task_worker
):
    synced(contacts=120, labels=8, seed=11)
    label = _quiet_label()
    people = list(Contact.objects.exclude(email="").order_by("pk")[:15])
    holders = wix_contacts_with(sandbox, label.key)
    gaining = {c.wix_id for c in people} - holders
    login(marketer)
    page.goto(reverse("admin:contacts_contact_changelist"))
    page.get_by_role("link", name="Label from a list…").click()
    expect(page.get_by_role("heading", name="Label contacts from a list")).to_be_visible()

    field = page.get_by_label("Paste email addresses or Wix contact ids")
    field.focus()
    page.keyboard.insert_text(
        "\n".join(f"{c.first_name} <{c.email.upper()}>" for c in people)
        + "\nnobody@example.invalid\nnot an address"
    )
    page.get_by_role("button", name="Read the list").press("Enter")

    found = page.locator(".list-figures")
    expect(found).to_contain_text("16 email addresses and contact ids in 17 rows")
    expect(found).to_contain_text(f"{len(people)} matched a contact each")
    expect(found).to_contain_text("1 matched no contact, and 1 row had no email address")
    htmx_settled(page)
    choose = page.get_by_label("Label", exact=True)
    choose.focus()
    choose.select_option(label=label.display_name)  # as typing its name on the closed list does
    preview = page.locator("#list-change .preview")
    expect(preview).to_contain_text(
        f"{len(gaining)} of the {len(people)} contacts found will get “{label.display_name}”"
    )
    shot(page, "from-list-preview")
    htmx_settled(page)
    apply = page.get_by_role("button", name=f"Add “{label.display_name}” to {len(gaining)}")
    apply.press("Enter")

    progress = page.locator("#list-change .job-progress")
    expect(progress.locator("progress")).to_be_visible()
    expect(progress).to_contain_text("Done", timeout=30_000)
    shot(page, "from-list-done")
    assert {c.wix_id for c in people} <= wix_contacts_with(sandbox, label.key)

    page.get_by_role("button", name="Undo").click()
    expect(page.locator("#list-change")).to_contain_text("started", timeout=10_000)
    expect(page.locator("#list-change .job-progress").last).to_contain_text("Done", timeout=30_000)
    assert wix_contacts_with(sandbox, label.key) == holders


def test_upload_a_csv_and_download_what_was_not_found(page, login, marketer, synced, tmp_path):
    synced(contacts=120, labels=8, seed=11)
    label = _quiet_label()
    people = list(Contact.objects.order_by("-pk")[:4])
    lines = ["Name;Contact id"] + [f"{c};{c.wix_id}" for c in people] + ["Gone;not-an-id"]
    upload = tmp_path / "webinar.csv"
    upload.write_text("\n".join(lines), encoding="utf-8")
    login(marketer)
    page.goto(reverse("admin:contacts_contact_from_list") + f"?label={label.key}")

    page.get_by_label("or choose a CSV or text file").set_input_files(upload)
    page.get_by_role("button", name="Read the list").click()

    expect(page.locator(".list-found h2")).to_have_text("What webinar.csv holds")
    expect(page.locator(".list-figures")).to_contain_text("4 matched a contact each")
    # The label asked for in the address is chosen already, its preview shown with the list.
    expect(page.get_by_label("Label", exact=True)).to_have_value(label.key)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download what was not found (CSV)").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "Gone not-an-id,No email address or Wix contact id in this row." in text
    assert re.search(r"webinar-not-found\.csv$", download.value.suggested_filename)


def test_apply_pressed_while_the_preview_reloads_sends_nothing(page, login, marketer, synced):
    """A tryout changed Add to Remove and pressed the old "Add …" button at once: the add was
    sent, and the new preview hid it. Apply is now disabled while the preview reloads."""
    from labels.models import LabelJob

    synced(contacts=60, labels=6, seed=11)
    label = _quiet_label()
    people = list(Contact.objects.order_by("pk")[:8])
    login(marketer)
    page.goto(reverse("admin:contacts_contact_from_list") + f"?label={label.key}")
    page.get_by_label("Paste email addresses or Wix contact ids").fill(
        "\n".join(c.wix_id for c in people)
    )
    page.get_by_role("button", name="Read the list").click()
    expect(page.locator("#list-apply")).to_be_visible()
    htmx_settled(page)
    page.route("**/from-list/*/?*", lambda route: (page.wait_for_timeout(400), route.continue_()))

    page.get_by_label("Remove the label").check()
    page.locator("#list-apply").click(force=True)  # the old "Add …" button, at once

    expect(page.locator("#list-change .preview")).not_to_contain_text("will get")
    htmx_settled(page)
    assert not LabelJob.objects.exists()
