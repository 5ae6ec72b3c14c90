"""A label's local note: what it is for and a colour, kept here (Wix has no such fields), shown
on its page, the labels page, chips and pickers, found by searches, and carried through a
delete and its undo."""

import re
from datetime import UTC, datetime

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from labels.models import LabelNote
from labels.selectors import label_list, label_list_for_search
from labels.services import LabelError, label_delete, label_note_save
from tests.fixtures.users import HTMX
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db

LABELS = reverse("admin:labels_label_changelist")
CONTACTS = reverse("admin:contacts_contact_changelist")
SUGGEST = reverse("admin:contacts_contact_suggest")


def note_url(key: str) -> str:
    return reverse("admin:labels_label_note", args=[key])


def detail_url(key: str) -> str:
    return reverse("admin:labels_label_detail", args=[key])


@pytest.fixture
def as_manager(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def vip(db):
    label = Label.objects.create(key="custom.vip", display_name="VIP", namespace="custom")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    contact = Contact.objects.create(
        wix_id="c1", first_name="Ada", remote_created_at=when, remote_updated_at=when
    )
    ContactLabel.objects.create(contact=contact, label=label)
    return label


def post_note(client, key, description="", colour="", *, was=("", ""), htmx=True):
    data = {
        "description": description,
        "colour": colour,
        "expected_description": was[0],
        "expected_colour": was[1],
    }
    return client.post(note_url(key), data, headers=HTMX if htmx else {})


def test_a_note_is_kept_here_logged_and_never_sent_to_wix(as_manager, vip, sandbox):
    sandbox.reset_stats()

    response = post_note(as_manager, vip.key, "  Bought twice in a year.\n", "blue")

    assert response.status_code == 200
    assert "Note saved." in response.content.decode()
    note = LabelNote.objects.get(key=vip.key)
    assert (note.description, note.colour) == ("Bought twice in a year.", "blue")
    assert note.updated_by.username == "manager"
    entry = LogEntry.objects.filter(object_id=str(vip.pk)).latest("action_time")
    assert entry.change_message == (
        "Note (kept here, not in Wix): description changed, colour set to blue."
    )
    assert sum(sandbox.stats()["byRoute"].values()) == 0  # not one request to Wix


def test_the_same_note_twice_changes_nothing_and_logs_nothing(as_manager, vip):
    post_note(as_manager, vip.key, "Big spenders", "red")
    entries = LogEntry.objects.count()

    response = post_note(as_manager, vip.key, "Big spenders", "red", was=("Big spenders", "red"))

    assert "Note saved." in response.content.decode()
    assert LogEntry.objects.count() == entries


@pytest.mark.parametrize(
    ("description", "colour", "message"),
    [
        ("x" * 501, "", "A description can be at most 500 characters; this one has 501."),
        ("Fine", "chartreuse", "Pick one of the colours on offer, or none."),
    ],
)
def test_bad_input_gets_a_specific_message_and_saves_nothing(
    as_manager, vip, description, colour, message
):
    response = post_note(as_manager, vip.key, description, colour)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not LabelNote.objects.exists()


def test_a_stale_page_saves_nothing_and_keeps_what_was_typed(as_manager, vip, manager):
    label_note_save(
        label=vip, description="Theirs", colour="green", expected=("", ""), user=manager
    )

    html = post_note(as_manager, vip.key, "Mine", "red", was=("", "")).content.decode()

    assert "Someone changed this note while you were editing; nothing was saved." in html
    assert '<p class="label-note-text">' in html
    assert "Theirs" in html  # the note as it is now
    assert re.search(r"<textarea[^>]*>\s*Mine</textarea>", html)  # what was typed, kept
    assert 'name="expected_description" value="Theirs"' in html
    note = LabelNote.objects.get(key=vip.key)
    assert (note.description, note.colour) == ("Theirs", "green")

    again = post_note(as_manager, vip.key, "Mine", "red", was=("Theirs", "green"))
    assert "Note saved." in again.content.decode()
    assert LabelNote.objects.get(key=vip.key).description == "Mine"


def test_the_same_text_saved_by_two_people_is_no_conflict(as_manager, vip, manager):
    label_note_save(label=vip, description="Same", colour="", expected=("", ""), user=manager)
    html = post_note(as_manager, vip.key, "Same", "", was=("", "")).content.decode()
    assert "Note saved." in html


def test_a_multi_line_note_sent_by_a_browser_with_crlf_is_not_stale(as_manager, vip, manager):
    label_note_save(
        label=vip, description="Line one\nLine two", colour="", expected=("", ""), user=manager
    )
    response = post_note(
        as_manager, vip.key, "Line one\r\nLine 2", "", was=("Line one\r\nLine two", "")
    )
    assert "Note saved." in response.content.decode()
    assert LabelNote.objects.get(key=vip.key).description == "Line one\nLine 2"


def test_a_deleted_label_keeps_no_note(as_manager, vip):
    key = vip.key
    vip.delete()
    html = post_note(as_manager, key, "Too late").content.decode()
    assert "This label no longer exists; nothing was saved." in html
    assert not LabelNote.objects.exists()


def test_without_htmx_the_page_comes_back_with_a_message(as_manager, vip):
    response = post_note(as_manager, vip.key, "Plain form", "teal", htmx=False)

    assert response.status_code == 302
    assert response["Location"] == detail_url(vip.key)
    page = as_manager.get(response["Location"]).content.decode()
    assert "Note saved." in page
    assert "Plain form" in page


def test_only_label_managers_write_notes(client, marketer, vip):
    client.force_login(marketer)
    assert post_note(client, vip.key, "Not mine").status_code == 403
    assert not LabelNote.objects.exists()
    page = client.get(detail_url(vip.key)).content.decode()
    assert "About this label" in page
    assert 'class="label-note-form"' not in page  # read, not written


def test_markup_in_a_description_is_shown_as_text_everywhere(as_manager, vip, manager):
    label_note_save(
        label=vip,
        description='<script>alert(1)</script> & "quotes"',
        colour="",
        expected=("", ""),
        user=manager,
    )
    for page in (LABELS, detail_url(vip.key), CONTACTS):
        html = as_manager.get(page).content.decode()
        assert "<script>alert(1)</script>" not in html, page
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; " in html, page


def test_descriptions_are_found_by_the_labels_search_and_the_picker(as_manager, vip, manager):
    other = Label.objects.create(key="custom.spring", display_name="Spring", namespace="custom")
    label_note_save(
        label=vip, description="Loyal customers", colour="", expected=("", ""), user=manager
    )
    Label.objects.create(key="custom.loyal", display_name="Loyalty club", namespace="custom")

    assert [lb.key for lb in label_list(query="loyal")] == ["custom.loyal", "custom.vip"]
    # In the picker, names first, then descriptions.
    assert [lb.key for lb in label_list_for_search(text="loyal")] == [
        "custom.loyal",
        "custom.vip",
    ]
    assert other.key not in {lb.key for lb in label_list_for_search(text="loyal")}
    html = as_manager.get(SUGGEST, {"label_q": "loyal"}, headers=HTMX).content.decode()
    assert '<span class="picker-description">Loyal customers</span>' in html


def test_colour_and_description_show_on_chips_and_rows(as_manager, vip, manager):
    label_note_save(
        label=vip, description="Top buyers", colour="purple", expected=("", ""), user=manager
    )

    contacts = as_manager.get(CONTACTS).content.decode()
    assert re.search(r'<li class="chip chip-colour chip-purple" title="Top buyers">', contacts)
    labels = as_manager.get(LABELS).content.decode()
    assert '<span class="swatch swatch-purple" aria-hidden="true"></span>' in labels
    assert ">Top buyers</span>" in labels
    contact = Contact.objects.get()
    page = as_manager.get(reverse("admin:contacts_contact_change", args=[contact.pk]))
    assert 'chip-colour chip-purple" title="Top buyers"' in page.content.decode()
    chip = as_manager.get(
        reverse("admin:contacts_contact_chip"), {"key": vip.key, "group": "all"}, headers=HTMX
    )
    assert 'chip-colour chip-purple" title="Top buyers"' in chip.content.decode()


def test_the_note_follows_a_deleted_label_restored_by_undo(synced, manager, run_label_jobs):
    from journal.undo import operation_undo

    synced()
    label = Label.objects.filter(key__startswith="custom.").order_by("key").first()
    label_note_save(
        label=label, description="Keep me", colour="orange", expected=("", ""), user=manager
    )
    deletion = label_delete(label=label, expected_name=label.display_name, user=manager)

    operation_undo(op_id=deletion.operation_id, user=manager)
    deletion.refresh_from_db()

    assert deletion.restored_key
    assert deletion.restored_key != label.key
    note = LabelNote.objects.get()
    assert (note.key, note.description, note.colour) == (
        deletion.restored_key,
        "Keep me",
        "orange",
    )


def test_the_service_checks_its_input_itself(vip, manager):
    with pytest.raises(LabelError, match="at most 500 characters"):
        label_note_save(
            label=vip, description="y" * 501, colour="", expected=("", ""), user=manager
        )
    with pytest.raises(LabelError, match="colours on offer"):
        label_note_save(label=vip, description="", colour="gold", expected=("", ""), user=manager)
    assert not LabelNote.objects.exists()
