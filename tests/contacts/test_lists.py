"""Label from a list (contacts/lists.py, contacts/list_views.py): reading pasted lists and files,
what they match, the change it makes through a real bulk job against the sandbox, its undo, and
every refusal in plain words."""

from __future__ import annotations

import codecs
import csv
import io
import zlib
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.urls import reverse

from contacts import lists
from contacts.lists import (
    ListProblem,
    contact_list_changing,
    contact_list_members,
    contact_list_read,
    contacts_by_email,
    file_rows,
    pasted_rows,
)
from contacts.models import ContactList
from contacts.segments import SegmentRules
from contacts.services import (
    TakesLabelFromEveryone,
    contacts_label_bulk_start,
    contacts_label_from_list_start,
)
from journal.models import Operation
from journal.undo import operation_undo
from labels.models import LabelJob
from tests.fixtures.cache import assert_cache_equals_wix
from tests.fixtures.sandbox_data import wix_contacts_with
from tests.fixtures.users import HTMX
from wixcache.models import Contact, Label

pytestmark = pytest.mark.django_db

PAGE = reverse("admin:contacts_contact_from_list")
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def _upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/csv")


def _not_found(contact_list: ContactList) -> list[list[str]]:
    text = zlib.decompress(bytes(contact_list.not_found)).decode()
    return list(csv.reader(io.StringIO(text)))


def _user_label(with_contacts: bool = True) -> Label:
    labels = Label.objects.filter(label_type=Label.Type.USER_DEFINED)
    if with_contacts:
        labels = labels.filter(contacts__isnull=False).distinct()
    return labels.order_by("key").first()


def _with_email(count: int) -> list[Contact]:
    return list(Contact.objects.exclude(email="").order_by("pk")[:count])


# --- Reading -------------------------------------------------------------------------------------


def test_a_pasted_list_finds_addresses_in_any_shape_and_ids_and_lists_the_rest(synced, manager):
    synced(contacts=30, labels=4)
    a, b, c = _with_email(3)
    by_id = Contact.objects.exclude(pk__in=[a.pk, b.pk, c.pk]).order_by("pk").first()
    text = (
        f"{a.email.upper()}\n"  # case does not matter
        f"Bee Person <{b.email}>; {c.email},\n"  # several on a line, as an email's To: line
        f"  {by_id.wix_id}  \n"
        f"{a.email}\n"  # a repeat
        "nobody@example.invalid\n"
        f"{UNKNOWN_ID}\n"
        "just some words\n"
        "\n   \n"
    )

    kept = contact_list_read(pasted_rows(text), source=lists.PASTED, every=True, user=manager)

    assert set(contact_list_members(kept)) == {a.pk, b.pk, c.pk, by_id.pk}
    assert (kept.rows, kept.entries, kept.duplicates, kept.unreadable) == (7, 6, 1, 1)
    assert (kept.found_entries, kept.not_found_entries, kept.matched_count) == (4, 2, 4)
    assert _not_found(kept) == [
        ["Entry", "Why it was not labelled"],
        ["just some words", lists.UNREADABLE],
        ["nobody@example.invalid", lists.NO_CONTACT_EMAIL],
        [UNKNOWN_ID, lists.NO_CONTACT_ID],
    ]


def test_a_file_gives_the_first_address_or_id_of_each_row_after_its_heading(synced, manager):
    synced(contacts=20, labels=3)
    a, b = _with_email(2)
    rows = [
        ["Name", "Email", "Other email"],
        [f"{a.first_name}", a.email, b.email],  # one person per row: b is not taken from here
        ["Someone", "", f'"{b.wix_id}"'],
        ["No address", "", ""],
        ["=HYPERLINK(1)", "", ""],  # a formula in the download stays text
    ]
    data = io.StringIO()
    csv.writer(data, delimiter=";").writerows(rows)

    kept = contact_list_read(
        file_rows(_upload("people.csv", data.getvalue().encode())),
        source="people.csv",
        every=False,
        user=manager,
    )

    assert set(contact_list_members(kept)) == {a.pk, b.pk}
    assert (kept.rows, kept.entries, kept.unreadable) == (4, 2, 2)
    assert [row[0] for row in _not_found(kept)[1:]] == ["No address", "'=HYPERLINK(1)"]


def test_utf16_and_bom_files_are_read_and_a_spreadsheet_file_is_refused_by_name(synced, manager):
    synced(contacts=10, labels=2)
    (a,) = _with_email(1)
    utf16 = codecs.BOM_UTF16_LE + f"Email\r\n{a.email}\r\n".encode("utf-16-le")
    kept = contact_list_read(
        file_rows(_upload("excel.txt", utf16)), source="excel.txt", every=False, user=manager
    )
    assert set(contact_list_members(kept)) == {a.pk}
    bom = codecs.BOM_UTF8 + f"{a.email}\n".encode()
    kept = contact_list_read(
        file_rows(_upload("bom.csv", bom)), source="bom.csv", every=False, user=manager
    )
    assert set(contact_list_members(kept)) == {a.pk}

    with pytest.raises(ListProblem, match=r"spreadsheet file.*Save it as CSV"):
        list(file_rows(_upload("people.xlsx", b"PK\x03\x04rest of a zip")))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The list is empty"),
        ("no addresses here\nnor here", "No email address or Wix contact id was found"),
    ],
)
def test_a_list_without_entries_says_so_and_keeps_nothing(synced, manager, text, message):
    synced(contacts=5, labels=2)
    with pytest.raises(ListProblem, match=message):
        contact_list_read(pasted_rows(text), source=lists.PASTED, every=True, user=manager)
    assert not ContactList.objects.exists()


def test_a_list_past_the_row_limit_is_refused_and_keeps_nothing(synced, manager, monkeypatch):
    synced(contacts=5, labels=2)
    monkeypatch.setattr(lists, "MAX_ROWS", 3)
    text = "\n".join(f"person{i}@example.com" for i in range(4))
    with pytest.raises(ListProblem, match="more than 3 rows"):
        contact_list_read(pasted_rows(text), source=lists.PASTED, every=True, user=manager)
    assert not ContactList.objects.exists()


def test_matching_costs_one_query_per_thousand_entries_not_one_per_entry(
    synced, manager, django_assert_max_num_queries
):
    synced(contacts=40, labels=2)
    known = [c.email for c in _with_email(30)]
    text = "\n".join(known + [f"stranger{i}@example.com" for i in range(2470)])
    # 3 batches of emails (one query each), the insert, the prune of old lists; on PostgreSQL
    # also the planner's hint and its savepoint (two statements, as the test runs in a
    # transaction already).
    with django_assert_max_num_queries(5 if connection.vendor == "sqlite" else 8):
        kept = contact_list_read(pasted_rows(text), source=lists.PASTED, every=True, user=manager)
    assert kept.entries == 2500
    assert kept.found_entries == len(set(known))


def test_an_address_is_found_through_the_email_order_index():
    """The match uses the contacts page's email index (an expression: the text must equal the
    index's), so a list of 100,000 addresses reads 100,000 index entries, not the table."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # a nearly empty table is read whole otherwise
            cursor.execute("SET LOCAL enable_seqscan = off")
    plan = contacts_by_email(["0a@example.com"]).values_list("pk", flat=True).explain()
    assert "contact_sort_email_idx" in plan


# --- Changing ------------------------------------------------------------------------------------


def _list_of(contacts: list[Contact], user) -> ContactList:
    text = "\n".join(c.wix_id for c in contacts)
    return contact_list_read(pasted_rows(text), source=lists.PASTED, every=True, user=user)


def test_adding_changes_only_those_without_the_label_and_undo_takes_back_exactly_that(
    synced, sandbox, manager, run_label_jobs
):
    synced(contacts=40, labels=5)
    label = _user_label()
    holders = set(label.contacts.values_list("pk", flat=True))
    listed = list(Contact.objects.order_by("pk")[:20])
    kept = _list_of(listed, manager)
    lacking = {c.pk for c in listed} - holders
    assert lacking
    assert lacking != {c.pk for c in listed}

    assert set(contact_list_changing(kept, label_pk=label.pk, remove=False)) == lacking
    job, started = contacts_label_from_list_start(
        contact_list=kept, label=label, remove=False, user=manager
    )
    assert started
    assert job.total == len(lacking)
    run_label_jobs()
    listed_ids = {c.wix_id for c in listed}
    assert listed_ids <= wix_contacts_with(sandbox, label.key)

    operation_undo(op_id=job.operation_id, user=manager)
    run_label_jobs()
    before = set(Contact.objects.filter(pk__in=holders).values_list("wix_id", flat=True))
    assert wix_contacts_with(sandbox, label.key) == before
    assert_cache_equals_wix(sandbox, revisions=False)


def test_removing_changes_only_the_holders(synced, sandbox, manager, run_label_jobs):
    synced(contacts=40, labels=5)
    label = _user_label()
    listed = list(Contact.objects.order_by("-pk")[:25])
    kept = _list_of(listed, manager)
    holding = {c.wix_id for c in listed} & wix_contacts_with(sandbox, label.key)
    assert holding

    job, _ = contacts_label_from_list_start(
        contact_list=kept, label=label, remove=True, user=manager
    )
    assert set(job.contact_ids) == holding
    assert job.remove_keys == [label.key]
    run_label_jobs()
    assert not holding & wix_contacts_with(sandbox, label.key)
    assert_cache_equals_wix(sandbox, revisions=False)


def test_the_same_change_twice_is_one_job_and_another_label_is_another(synced, manager):
    synced(contacts=20, labels=5)
    first, second = Label.objects.filter(label_type=Label.Type.USER_DEFINED).order_by("key")[:2]
    kept = _list_of(list(Contact.objects.all()), manager)

    job, started = contacts_label_from_list_start(
        contact_list=kept, label=first, remove=False, user=manager
    )
    again, started_again = contacts_label_from_list_start(
        contact_list=kept, label=first, remove=False, user=manager
    )
    other, other_started = contacts_label_from_list_start(
        contact_list=kept, label=second, remove=False, user=manager
    )

    assert (started, started_again, other_started) == (True, False, True)
    assert again.pk == job.pk
    assert other.pk != job.pk
    assert Operation.objects.filter(kind=Operation.Kind.BULK_LABELS).count() == 2


def test_contacts_gone_since_the_list_was_read_are_left_out(synced, manager):
    synced(contacts=20, labels=3)
    label = _user_label(with_contacts=False)
    listed = list(Contact.objects.order_by("pk")[:10])
    kept = _list_of(listed, manager)
    gone = listed[0].pk
    listed[0].delete()  # deleted in Wix and synced away meanwhile

    changing = contact_list_changing(kept, label_pk=label.pk, remove=False)
    assert gone not in changing
    assert set(changing) == {c.pk for c in listed[1:]} - set(
        label.contacts.values_list("pk", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_the_label_index_and_the_memberships_give_the_same_change(synced, manager):
    synced(contacts=60, labels=5)
    kept = _list_of(list(Contact.objects.order_by("pk")[::2]), manager)
    for label in Label.objects.all():
        for remove in (False, True):
            from_index = contact_list_changing(kept, label_pk=label.pk, remove=remove)
            with transaction.atomic():  # the index steps aside: the memberships answer
                from_rows = contact_list_changing(kept, label_pk=label.pk, remove=remove)
            assert from_index == from_rows, (label.key, remove)


# --- The pages -----------------------------------------------------------------------------------


def _read(client, text: str, **extra):
    return client.post(PAGE, {"text": text, **extra}, headers=HTMX)


def test_the_page_reads_a_pasted_list_and_previews_the_chosen_label(
    client, synced, marketer, sandbox
):
    synced(contacts=30, labels=5)
    label = _user_label()
    listed = list(Contact.objects.order_by("pk")[:12])
    client.force_login(marketer)

    page = client.get(PAGE + f"?label={label.key}")
    assert page.status_code == 200
    assert b'name="chosen" value="' + label.key.encode() in page.content

    read = _read(
        client, "\n".join(c.wix_id for c in listed) + "\nnobody@example.com", chosen=label.key
    )
    assert read.status_code == 200
    body = read.content.decode()
    assert "<strong>13</strong> email addresses and contact ids in 13 rows" in body
    assert "<strong>12</strong> matched a contact each" in body
    assert "Download what was not found" in body
    kept = ContactList.objects.get()
    assert f'<option value="{label.key}" selected>' in body

    lacking = len(contact_list_changing(kept, label_pk=label.pk, remove=False))
    preview = client.get(
        reverse("admin:contacts_contact_from_list_change", args=[kept.pk]),
        {"label": label.key, "action": "add"},
        headers=HTMX,
    )
    assert (
        f"<strong>{lacking}</strong> of the 12 contacts found will get “{label.display_name}”"
        in (preview.content.decode())
    )
    assert not Operation.objects.filter(kind=Operation.Kind.BULK_LABELS).exists()
    assert not LabelJob.objects.exists()


def test_applying_starts_one_job_even_when_sent_twice(client, synced, marketer):
    synced(contacts=30, labels=5)
    label = _user_label()
    client.force_login(marketer)
    _read(client, "\n".join(Contact.objects.values_list("wix_id", flat=True)))
    kept = ContactList.objects.get()
    apply = reverse("admin:contacts_contact_from_list_apply", args=[kept.pk])

    first = client.post(apply, {"label": label.key, "action": "add"}, headers=HTMX)
    second = client.post(apply, {"label": label.key, "action": "add"}, headers=HTMX)

    assert first.status_code == second.status_code == 200
    assert LabelJob.objects.count() == 1
    assert "already under way from this list" in second.content.decode()
    plain = client.post(apply, {"label": label.key, "action": "add"})  # without htmx
    job = LabelJob.objects.get()
    assert plain.status_code == 302
    assert plain.url == reverse("admin:labels_labeljob_change", args=[job.pk])


def test_taking_a_label_from_everyone_who_has_it_is_for_label_managers(
    client, synced, marketer, manager
):
    synced(contacts=30, labels=5)
    label = _user_label()
    everyone = "\n".join(Contact.objects.values_list("wix_id", flat=True))
    change = {"label": label.key, "action": "remove"}

    client.force_login(marketer)
    _read(client, everyone)
    kept = ContactList.objects.get(created_by=marketer)
    refused = client.post(
        reverse("admin:contacts_contact_from_list_apply", args=[kept.pk]), change, headers=HTMX
    )
    assert refused.status_code == 403
    assert "amounts to deleting the label" in refused.content.decode()
    assert not LabelJob.objects.exists()

    client.force_login(manager)
    _read(client, everyone)
    mine = ContactList.objects.get(created_by=manager)
    allowed = client.post(
        reverse("admin:contacts_contact_from_list_apply", args=[mine.pk]), change, headers=HTMX
    )
    assert allowed.status_code == 200
    assert LabelJob.objects.count() == 1


def test_a_list_is_its_readers_own(client, synced, marketer, manager):
    synced(contacts=10, labels=3)
    client.force_login(manager)
    _read(client, "\n".join(Contact.objects.values_list("wix_id", flat=True)))
    kept = ContactList.objects.get()
    label = _user_label()
    client.force_login(marketer)
    for response in (
        client.get(reverse("admin:contacts_contact_from_list_change", args=[kept.pk])),
        client.post(
            reverse("admin:contacts_contact_from_list_apply", args=[kept.pk]),
            {"label": label.key, "action": "add"},
        ),
        client.get(reverse("admin:contacts_contact_from_list_not_found", args=[kept.pk])),
    ):
        assert response.status_code == 404
    assert not LabelJob.objects.exists()


def test_a_label_deleted_after_the_preview_is_named_and_nothing_starts(client, synced, marketer):
    synced(contacts=10, labels=3)
    client.force_login(marketer)
    _read(client, "\n".join(Contact.objects.values_list("wix_id", flat=True)))
    kept = ContactList.objects.get()
    gone = _user_label()
    gone.delete()

    response = client.post(
        reverse("admin:contacts_contact_from_list_apply", args=[kept.pk]),
        {"label": gone.key, "action": "add"},
        headers=HTMX,
    )
    assert response.status_code == 400
    assert "This label is not in Wix any more" in response.content.decode()
    assert not LabelJob.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Paste email addresses or contact ids, or choose a file."),
        ({"text": "   "}, "Paste email addresses or contact ids, or choose a file."),
        ({"text": "a@b.c", "file": "x"}, "Paste a list or choose a file, not both."),
        ({"text": "just words"}, "No email address or Wix contact id was found"),
    ],
)
def test_bad_lists_get_a_specific_message_and_keep_the_pasted_text(
    client, synced, marketer, data, message
):
    synced(contacts=5, labels=2)
    client.force_login(marketer)
    if data.get("file"):
        data = {**data, "file": _upload("x.csv", b"a@b.c\n")}
    response = client.post(PAGE, data, headers=HTMX)
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    if data.get("text", "").strip():
        assert data["text"] in body  # what was typed is still there
    assert not ContactList.objects.exists()


def test_markup_in_a_list_is_shown_as_text(client, synced, marketer):
    synced(contacts=5, labels=2)
    client.force_login(marketer)
    name = "<img src=x onerror=alert(1)>.csv"
    response = client.post(
        PAGE, {"file": _upload(name, b"<b>bold</b>\nnobody@example.com\n")}, headers=HTMX
    )
    body = response.content.decode()
    assert "<img src=x" not in body
    assert "&lt;img src=x" in body


def test_the_not_found_download_is_csv_for_spreadsheets(client, synced, marketer):
    synced(contacts=5, labels=2)
    client.force_login(marketer)
    _read(client, "=1+2@evil.example\nnobody@example.com\nplain words")
    kept = ContactList.objects.get()

    response = client.get(reverse("admin:contacts_contact_from_list_not_found", args=[kept.pk]))

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="a-pasted-list-not-found.csv"'
    text = b"".join(response.streaming_content).decode()
    assert text.startswith("\ufeffEntry,Why it was not labelled\r\n")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert ["'=1+2@evil.example", lists.NO_CONTACT_EMAIL] in rows
    assert ["plain words", lists.UNREADABLE] in rows


@pytest.mark.parametrize("htmx", [True, False])
def test_a_paste_too_large_for_a_form_says_to_upload_a_file(client, marketer, settings, htmx):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
    client.force_login(marketer)
    text = "\n".join(f"person{i}@example.com" for i in range(120_000))  # about 2.6 MB

    response = client.post(PAGE, {"text": text}, headers=HTMX if htmx else {})

    assert response.status_code == 400
    body = response.content.decode()
    assert "more than labelsite takes in one form (2 MB)" in body
    assert "upload it as a file instead of pasting it" in body
    assert not ContactList.objects.exists()


# --- From the review: what Apply sends, undo then again, the everyone rule, hostile input ------


def test_apply_refuses_when_the_figures_moved_since_the_preview(client, synced, marketer):
    synced(contacts=20, labels=4)
    label = _user_label()
    client.force_login(marketer)
    _read(client, "\n".join(Contact.objects.values_list("wix_id", flat=True)))
    kept = ContactList.objects.get()
    changing = len(contact_list_changing(kept, label_pk=label.pk, remove=False))
    apply = reverse("admin:contacts_contact_from_list_apply", args=[kept.pk])

    moved = client.post(
        apply, {"label": label.key, "action": "add", "expected": changing + 1}, headers=HTMX
    )

    assert moved.status_code == 409
    assert "The figures changed since the preview" in moved.content.decode()
    assert not LabelJob.objects.exists()
    started = client.post(
        apply, {"label": label.key, "action": "add", "expected": changing}, headers=HTMX
    )
    assert started.status_code == 200
    assert LabelJob.objects.get().total == changing


def test_the_apply_button_carries_the_previewed_choice_not_the_pickers(client, synced, marketer):
    """The label and action shown on the button travel in its own form, so changing the
    select or the radios afterwards (without a preview) cannot change what it sends."""
    synced(contacts=20, labels=4)
    label = _user_label()
    client.force_login(marketer)
    _read(client, "\n".join(Contact.objects.values_list("wix_id", flat=True)))
    kept = ContactList.objects.get()
    preview = client.get(
        reverse("admin:contacts_contact_from_list_change", args=[kept.pk]),
        {"label": label.key, "action": "add"},
        headers=HTMX,
    ).content.decode()
    apply_form = preview[preview.index('class="list-apply-form"') :]
    apply_form = apply_form[: apply_form.index("</form>")]
    assert f'name="label" value="{label.key}"' in apply_form
    assert 'name="action" value="add"' in apply_form
    assert "<select" not in apply_form
    assert 'type="radio"' not in apply_form
    assert "csrfmiddlewaretoken" not in preview[: preview.index('class="list-apply-form"')]


def test_the_same_change_after_its_undo_starts_again(synced, manager, sandbox, run_label_jobs):
    synced(contacts=30, labels=4)
    label = _user_label()
    listed = list(Contact.objects.order_by("pk")[:10])
    kept = _list_of(listed, manager)
    first, _ = contacts_label_from_list_start(
        contact_list=kept, label=label, remove=False, user=manager
    )
    run_label_jobs()
    operation_undo(op_id=first.operation_id, user=manager)
    run_label_jobs()
    kept.refresh_from_db()

    again, started = contacts_label_from_list_start(
        contact_list=kept, label=label, remove=False, user=manager
    )

    assert started
    assert again.pk != first.pk
    run_label_jobs()
    assert {c.wix_id for c in listed} <= wix_contacts_with(sandbox, label.key)


def test_two_lists_cannot_take_a_label_from_everyone_between_them(client, synced, marketer):
    synced(contacts=40, labels=4)
    label = _user_label()
    holders = list(
        Contact.objects.filter(labels=label).order_by("pk").values_list("wix_id", flat=True)
    )
    assert len(holders) >= 2
    half = len(holders) // 2
    client.force_login(marketer)
    statuses = []
    for part in (holders[:half], holders[half:]):
        _read(client, "\n".join(part))
        kept = ContactList.objects.latest("pk")
        response = client.post(
            reverse("admin:contacts_contact_from_list_apply", args=[kept.pk]),
            {"label": label.key, "action": "remove"},
            headers=HTMX,
        )
        statuses.append(response.status_code)

    assert statuses == [200, 403]  # the first job is queued: it counts as taking already
    assert "with the changes already under way" in response.content.decode()
    assert LabelJob.objects.count() == 1


def test_the_service_refuses_taking_from_everyone_whatever_the_view_said(synced, marketer):
    synced(contacts=20, labels=4)
    label = _user_label()
    kept = _list_of(list(Contact.objects.filter(labels=label)), marketer)
    with pytest.raises(TakesLabelFromEveryone):
        contacts_label_from_list_start(contact_list=kept, label=label, remove=True, user=marketer)
    assert not LabelJob.objects.exists()


def test_a_long_run_without_an_address_is_read_in_one_pass_and_is_no_entry(synced, manager):
    """The entries are found by one linear scan: a 300 KB run of letters (which the first
    pattern took minutes over, backtracking) is no entry, and the addresses around it are."""
    synced(contacts=10, labels=2)
    (a,) = _with_email(1)
    text = f"{a.email} {'x' * 300_000} {'y' * 400}@example.com nobody@example.com"
    kept = contact_list_read(pasted_rows(text), source=lists.PASTED, every=True, user=manager)
    assert kept.entries == 2
    assert set(contact_list_members(kept)) == {a.pk}


def test_a_uuid_before_an_at_sign_is_an_address():
    entries = list(lists._entries(f"{UNKNOWN_ID}@example.com {UNKNOWN_ID}"))
    assert [(e.text, e.is_email) for e in entries] == [
        (f"{UNKNOWN_ID}@example.com", True),
        (UNKNOWN_ID, False),
    ]


def test_a_file_line_too_long_is_refused_before_it_is_read_whole(synced, manager):
    synced(contacts=5, labels=2)
    wide = ("ab," * 30_000 + "\n").encode()  # 90 KB, one row
    with pytest.raises(ListProblem, match=r"Line 2 of “wide\.csv” is longer than 64 KB"):
        contact_list_read(
            file_rows(_upload("wide.csv", b"a@example.com\n" + wide)),
            source="wide.csv",
            every=False,
            user=manager,
        )


def test_a_utf16_file_without_its_mark_is_read_and_a_nul_is_never_sent_to_the_database(
    synced, manager
):
    synced(contacts=10, labels=2)
    (a,) = _with_email(1)
    no_bom = f"Email\n{a.email}\n".encode("utf-16-le")
    kept = contact_list_read(
        file_rows(_upload("no-bom.csv", no_bom)), source="no-bom.csv", every=False, user=manager
    )
    assert set(contact_list_members(kept)) == {a.pk}
    nul = f"{a.email}\nbad\x00@example.com\n".encode()
    kept = contact_list_read(
        file_rows(_upload("nul.csv", nul)), source="nul.csv", every=False, user=manager
    )
    assert set(contact_list_members(kept)) == {a.pk}


def test_a_paste_with_more_entries_than_the_limit_on_one_line_is_refused(
    synced, manager, monkeypatch
):
    synced(contacts=5, labels=2)
    monkeypatch.setattr(lists, "MAX_ROWS", 3)
    line = ", ".join(f"person{i}@example.com" for i in range(4))
    with pytest.raises(ListProblem, match="more than 3 email addresses and contact ids"):
        contact_list_read(pasted_rows(line), source=lists.PASTED, every=True, user=manager)


def test_a_list_older_than_a_week_is_gone(client, synced, marketer):
    synced(contacts=5, labels=2)
    client.force_login(marketer)
    _read(client, "\n".join(Contact.objects.values_list("wix_id", flat=True)))
    kept = ContactList.objects.get()
    ContactList.objects.filter(pk=kept.pk).update(
        created_at=kept.created_at - timedelta(days=ContactList.KEPT_DAYS, minutes=1)
    )
    response = client.get(reverse("admin:contacts_contact_from_list_change", args=[kept.pk]))
    assert response.status_code == 404


def test_contacts_that_left_wix_are_said_apart_from_those_that_have_the_label(
    client, synced, marketer
):
    synced(contacts=20, labels=4)
    label = _user_label(with_contacts=False)
    lacking = list(Contact.objects.exclude(labels=label).order_by("pk")[:6])
    client.force_login(marketer)
    _read(client, "\n".join(c.wix_id for c in lacking))
    kept = ContactList.objects.get()
    lacking[0].delete()
    lacking[1].delete()

    preview = client.get(
        reverse("admin:contacts_contact_from_list_change", args=[kept.pk]),
        {"label": label.key, "action": "add"},
        headers=HTMX,
    ).content.decode()

    assert "<strong>4</strong> of the 6 contacts found will get" in preview
    assert "have it already" not in preview
    assert "2 of the contacts found have left Wix since the list was read" in preview


def test_the_bulk_page_refuses_taking_a_label_from_everyone_too(client, synced, marketer, manager):
    """The same rule, shared: on the contacts page's bulk change, in its view and its service."""
    synced(contacts=30, labels=4)
    label = _user_label()
    with pytest.raises(TakesLabelFromEveryone):
        contacts_label_bulk_start(rules=SegmentRules(), remove=[label], user=marketer)
    client.force_login(marketer)
    response = client.post(
        reverse("admin:contacts_contact_bulk_start"),
        {"selection": "all", "remove": label.key},
        headers=HTMX,
    )
    assert response.status_code == 403
    assert "amounts to deleting the label" in response.content.decode()
    assert not LabelJob.objects.exists()
    job = contacts_label_bulk_start(rules=SegmentRules(), remove=[label], user=manager)
    assert job.total == label.contacts.count()


def test_a_file_of_only_junk_says_so_rather_than_that_it_is_empty(synced, manager):
    """Only a file's first row is taken for its heading: a file of lines without an address is
    not "empty" (a tryout found that it was said to be)."""
    synced(contacts=5, labels=2)
    with pytest.raises(ListProblem, match="No email address or Wix contact id was found"):
        contact_list_read(
            file_rows(_upload("junk.txt", b"hello\nworld\n---\n")),
            source="junk.txt",
            every=False,
            user=manager,
        )


def test_what_was_pasted_stays_in_its_box_after_reading(client, synced, marketer):
    synced(contacts=5, labels=2)
    client.force_login(marketer)
    text = "\n".join(Contact.objects.values_list("wix_id", flat=True)) + "\nnobody@example.com"
    body = _read(client, text).content.decode()
    assert "nobody@example.com</textarea>" in body
