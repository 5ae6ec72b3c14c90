"""The history pages and the CSV export, through Django's test client."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from journal.models import Operation, OperationRef
from tests.fixtures.users import HTMX, make_user

pytestmark = pytest.mark.django_db

Kind, State, Ref = Operation.Kind, Operation.State, OperationRef.Kind
HISTORY = reverse("admin:journal_operation_changelist")
EXPORT = reverse("admin:journal_operation_export")
ODD_NAME = "<b>Ärzte & Co</b>"


def label_page(key: str) -> str:
    return reverse("admin:journal_operation_label_history", args=[key])


def contact_page(wix_id: str) -> str:
    return reverse("admin:journal_operation_contact_history", args=[wix_id])


def audience_page(audience_id: int) -> str:
    return reverse("admin:journal_operation_audience_history", args=[audience_id])


def at(day: str, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime.fromisoformat(f"{day}T{hour:02d}:00"))


def rows(response) -> list[str]:
    """The table's body rows, as HTML."""
    body = response.content.decode().split("<tbody>")[1].split("</tbody>")[0]
    return [row for row in body.split("</tr>") if "history-row" in row]


@pytest.fixture
def as_marketer(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def as_manager(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def history(make_operation, marketer, manager):
    """A small history: people, Wix and labelsite, every state, over three days."""
    return {
        "create": make_operation(
            "Created label “VIP Kunden”.",
            user=marketer,
            refs=[(Ref.LABEL, "custom.vip-kunden", "VIP Kunden")],
            at=at("2026-03-01", 9),
        ),
        "rename": make_operation(
            "Renamed label “VIP Kunden” to “VIP”.",
            kind=Kind.LABEL_RENAME,
            user=manager,
            refs=[(Ref.LABEL, "custom.vip-kunden", "VIP")],
            at=at("2026-03-02", 10),
        ),
        "chips": make_operation(
            "Gave Anna Berg the label “VIP”.",
            kind=Kind.CONTACT_LABELS,
            state=State.FAILED,
            user=marketer,
            outcome="Wix refused: the contact was deleted.",
            refs=[
                (Ref.CONTACT, "c0ffee00-0000-4000-8000-000000000001", "Anna Berg"),
                (Ref.LABEL, "custom.vip-kunden", "VIP"),
            ],
            at=at("2026-03-02", 15),
        ),
        "audience": make_operation(
            "Changed the saved audience “Spring leads”.",
            kind=Kind.AUDIENCE,
            user=marketer,
            refs=[(Ref.AUDIENCE, "7", "Spring leads")],
            at=at("2026-03-03", 8),
        ),
        "sync": make_operation(
            "Synced with Wix: 2 labels, 40 contacts.",
            kind=Kind.SYNC,
            at=at("2026-03-03", 9),
        ),
        "settled": make_operation(
            "Deleted label “Old”.",
            kind=Kind.LABEL_DELETE,
            state=State.SENT,
            refs=[(Ref.LABEL, "custom.old", "Old")],
            at=at("2026-03-03", 11),
        ),
    }


# --- the site-wide page -----------------------------------------------------------------------


def test_the_page_lists_every_change_newest_first_in_plain_words(as_marketer, history):
    response = as_marketer.get(HISTORY)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>History</h1>" in html
    assert "6 changes" in html
    found = rows(response)
    summaries = [
        "Deleted label “Old”.",
        "Synced with Wix: 2 labels, 40 contacts.",
        "Changed the saved audience “Spring leads”.",
        "Gave Anna Berg the label “VIP”.",
        "Renamed label “VIP Kunden” to “VIP”.",
        "Created label “VIP Kunden”.",
    ]
    assert [next(s for s in summaries if s in row) for row in found] == summaries
    deleted, synced, _, chips, _, created = found
    assert "labelsite" in deleted
    assert "Sent to Wix" in deleted
    assert "Wix (sync)" in synced
    assert "Sync with Wix" in synced
    assert "marketer" in chips
    assert "Failed" in chips
    assert "Wix refused: the contact was deleted." in chips
    assert "2026-03-01 09:00" in created
    assert "Done" in created
    # Touched things link to their own history pages.
    assert f'href="{label_page("custom.vip-kunden")}"' in created
    assert f'href="{contact_page("c0ffee00-0000-4000-8000-000000000001")}"' in chips
    assert f'href="{audience_page(7)}"' in found[2]


def test_the_admin_index_leads_to_the_history(as_marketer):
    index = as_marketer.get(reverse("admin:index")).content.decode()
    assert f'href="{HISTORY}"' in index
    app = as_marketer.get(reverse("admin:app_list", args=["journal"]))
    assert app.status_code == 200
    assert f'href="{HISTORY}"' in app.content.decode()


def test_every_state_has_its_plain_word(as_marketer, make_operation):
    for state in State:
        make_operation(f"Change {state.value}.", state=state)
    html = as_marketer.get(HISTORY).content.decode()
    for word in ("Planned", "Sent to Wix", "Done", "Failed", "Undone"):
        assert f">{word}</span>" in html


def test_an_htmx_request_gets_only_the_results(as_marketer, history):
    html = as_marketer.get(HISTORY, {"kind": "sync"}, headers=HTMX).content.decode()
    assert html.strip().startswith('<div id="history-results"')
    assert "<html" not in html
    assert "Synced with Wix" in html
    assert "Created label" not in html


def test_names_keep_their_case_and_markup_is_escaped(as_marketer, make_operation, marketer):
    make_operation(
        f"Created label “{ODD_NAME}”.",
        user=marketer,
        refs=[(Ref.LABEL, "custom.arzte-co", ODD_NAME)],
        outcome=f"Wix said: {ODD_NAME}",
    )
    html = as_marketer.get(HISTORY).content.decode()
    escaped = "&lt;b&gt;Ärzte &amp; Co&lt;/b&gt;"
    assert f"Created label “{escaped}”." in html
    assert f"Wix said: {escaped}" in html
    assert f">{escaped}</a>" in html
    assert "<b>Ärzte" not in html
    assert "ärzte" not in html  # never lower-cased
    page = as_marketer.get(label_page("custom.arzte-co")).content.decode()
    assert f"History of label “{escaped}”" in page
    assert "<b>Ärzte" not in page


def test_a_key_is_shown_only_where_two_labels_share_a_name(as_marketer, make_operation):
    make_operation(
        "Merged labels “VIP” into “VIP”.",
        kind=Kind.LABEL_MERGE,
        refs=[(Ref.LABEL, "custom.vip", "VIP"), (Ref.LABEL, "custom.vip-1", "VIP")],
    )
    make_operation("Created label “Newsletter”.", refs=[(Ref.LABEL, "custom.news", "Newsletter")])
    html = as_marketer.get(HISTORY).content.decode()
    assert '<code class="touched-ref">custom.vip</code>' in html
    assert '<code class="touched-ref">custom.vip-1</code>' in html
    assert "custom.news</code>" not in html


def test_a_change_touching_thousands_shows_a_few_and_counts_the_rest(as_marketer, make_operation):
    refs = [(Ref.LABEL, "custom.vip", "VIP")]
    refs += [(Ref.CONTACT, f"id-{i:04}", f"Contact {i:04}") for i in range(300)]
    make_operation("Gave 300 contacts the label “VIP”.", kind=Kind.BULK_LABELS, refs=refs)
    (row,) = rows(as_marketer.get(HISTORY))
    assert ">VIP</a>" in row  # labels come first
    assert row.count("<li>") == 10
    assert "and 291 more" in row


def test_no_history_yet(as_marketer):
    html = as_marketer.get(HISTORY).content.decode()
    assert "0 changes" in html
    assert "Nothing has been recorded yet." in html


def test_fifty_a_page(as_marketer, make_operation):
    for i in range(53):
        make_operation(f"Change number {i}.", at=at("2026-01-01") + timedelta(minutes=i))
    first = as_marketer.get(HISTORY)
    assert len(rows(first)) == 50
    assert "Page 1 of 2" in first.content.decode()
    assert "Change number 52." in first.content.decode()
    second = as_marketer.get(HISTORY, {"page": 2, "kind": "label_create"})
    assert [r for r in rows(second) if "Change number 0." in r]
    assert len(rows(second)) == 3
    previous = second.content.decode().split('rel="prev"')[0].rsplit("<a ", 1)[1]
    assert 'href="?page=1&amp;kind=label_create"' in previous  # the filters stay


def test_a_page_number_that_is_no_page_shows_a_page(as_marketer, history):
    for page in ("x", "0", "99", "-1", "1e9"):
        assert as_marketer.get(HISTORY, {"page": page}).status_code == 200


# --- filters ----------------------------------------------------------------------------------


def summaries(response) -> set[str]:
    return {row.split('class="history-summary">')[1].split("</span>")[0] for row in rows(response)}


def test_filter_by_person(as_marketer, history, manager):
    response = as_marketer.get(HISTORY, {"person": manager.pk})
    assert summaries(response) == {"Renamed label “VIP Kunden” to “VIP”."}
    assert "1 change matches these filters" in response.content.decode()


def test_the_person_filter_lists_the_people_in_the_history(as_marketer, history):
    html = as_marketer.get(HISTORY).content.decode()
    select = html.split('name="person"')[1].split("</select>")[0]
    assert ">manager</option>" in select
    assert ">marketer</option>" in select
    assert "Anyone" in select


def test_filter_by_kind_and_state(as_marketer, history):
    assert summaries(as_marketer.get(HISTORY, {"kind": "label_rename"})) == {
        "Renamed label “VIP Kunden” to “VIP”."
    }
    assert summaries(as_marketer.get(HISTORY, {"state": "failed"})) == {
        "Gave Anna Berg the label “VIP”."
    }
    assert summaries(as_marketer.get(HISTORY, {"kind": "label_create", "state": "failed"})) == set()


def test_filter_by_dates_takes_whole_days(as_marketer, history):
    day = summaries(as_marketer.get(HISTORY, {"date_from": "2026-03-02", "date_to": "2026-03-02"}))
    assert day == {"Renamed label “VIP Kunden” to “VIP”.", "Gave Anna Berg the label “VIP”."}
    since = summaries(as_marketer.get(HISTORY, {"date_from": "2026-03-03"}))
    assert len(since) == 3
    until = summaries(as_marketer.get(HISTORY, {"date_to": "2026-03-01"}))
    assert until == {"Created label “VIP Kunden”."}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date_from": "yesterday"}, "From: Enter a date as YYYY-MM-DD"),
        ({"date_to": "2026-02-30"}, "To: Enter a date as YYYY-MM-DD"),
        ({"date_from": "0001-01-01"}, "From: Enter a date between 1900-01-01 and 9998-12-31."),
        ({"date_to": "9999-12-31"}, "To: Enter a date between 1900-01-01 and 9998-12-31."),
        ({"date_from": "2026-03-03", "date_to": "2026-03-01"}, "“From” is after “To”"),
        ({"kind": "<script>alert(1)</script>"}, "Kind: Unknown kind of change."),
        ({"state": "gone"}, "State: Unknown state."),
        ({"person": "nobody"}, "Person: There is no such person in the history."),
        ({"person": "99999999999999999999999"}, "Person: There is no such person"),
        ({"person": "a\x00b"}, "Person: Null characters are not allowed."),
        ({"date_from": "2026-03-01\x00"}, "From: Enter a date"),
    ],
)
def test_bad_filters_get_a_plain_message(as_marketer, history, params, message):
    response = as_marketer.get(HISTORY, params)
    assert response.status_code == 400
    html = response.content.decode()
    assert "These filters could not be used" in html
    assert message in html
    assert "<script>alert" not in html
    assert 'class="history-row' not in html
    partial = as_marketer.get(HISTORY, params, headers=HTMX)
    assert partial.status_code == 400
    assert message in partial.content.decode()


# --- one thing's history ----------------------------------------------------------------------


def test_a_labels_page_shows_only_that_labels_changes(as_marketer, history):
    response = as_marketer.get(label_page("custom.vip-kunden"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "History of label “VIP”" in html  # the newest name it had
    assert "<code>custom.vip-kunden</code>" in html
    assert summaries(response) == {
        "Created label “VIP Kunden”.",
        "Renamed label “VIP Kunden” to “VIP”.",
        "Gave Anna Berg the label “VIP”.",
    }
    filtered = as_marketer.get(label_page("custom.vip-kunden"), {"kind": "contact_labels"})
    assert summaries(filtered) == {"Gave Anna Berg the label “VIP”."}
    # The filter form sends its filters to this page, not to the site-wide one.
    assert f'action="{label_page("custom.vip-kunden")}"' in html


def test_a_contacts_page_and_an_audiences_page(as_marketer, history):
    contact = as_marketer.get(contact_page("c0ffee00-0000-4000-8000-000000000001"))
    assert "History of contact “Anna Berg”" in contact.content.decode()
    assert summaries(contact) == {"Gave Anna Berg the label “VIP”."}
    audience = as_marketer.get(audience_page(7))
    assert "History of audience “Spring leads”" in audience.content.decode()
    assert summaries(audience) == {"Changed the saved audience “Spring leads”."}


def test_a_thing_without_history(as_marketer, history):
    response = as_marketer.get(label_page("custom.never"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "History of label custom.never" in html
    assert "Nothing has been recorded for this label yet." in html


def test_a_key_no_thing_can_have_is_not_found(as_marketer):
    assert as_marketer.get(label_page("k" * 256)).status_code == 404
    assert as_marketer.get(contact_page("a\x00b")).status_code == 404


def test_a_things_bad_filters_get_a_plain_message(as_marketer, history):
    response = as_marketer.get(audience_page(7), {"date_to": "soon"})
    assert response.status_code == 400
    assert "To: Enter a date as YYYY-MM-DD" in response.content.decode()


# --- CSV --------------------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_the_export_has_every_row_and_every_column(as_manager, history, marketer):
    table = read_csv(as_manager.get(EXPORT))
    assert table[0] == [
        "Time",
        "Person",
        "Kind",
        "State",
        "Summary",
        "Outcome",
        "Labels",
        "Contacts",
        "Audiences",
    ]
    assert len(table) == 7
    chips = next(row for row in table if row[4].startswith("Gave Anna Berg"))
    assert chips == [
        history["chips"].created_at.isoformat(),
        "marketer",
        "Change a contact's labels",
        "Failed",
        "Gave Anna Berg the label “VIP”.",
        "Wix refused: the contact was deleted.",
        "VIP",
        "Anna Berg",
        "",
    ]
    assert datetime.fromisoformat(chips[0]) == at("2026-03-02", 15)
    assert [row[1] for row in table[1:3]] == ["labelsite", "Wix (sync)"]


def test_the_export_follows_the_filters_and_the_thing(as_manager, history):
    only = read_csv(as_manager.get(EXPORT, {"state": "failed"}))
    assert [row[4] for row in only[1:]] == ["Gave Anna Berg the label “VIP”."]
    label = read_csv(as_manager.get(EXPORT, {"label": "custom.vip-kunden", "kind": "label_create"}))
    assert [row[4] for row in label[1:]] == ["Created label “VIP Kunden”."]
    assert read_csv(as_manager.get(EXPORT, {"audience": 7}))[1][8] == "Spring leads"


def test_the_page_links_to_the_export_of_what_it_shows(as_manager, history):
    html = as_manager.get(label_page("custom.vip-kunden"), {"state": "done"}).content.decode()
    assert f'href="{EXPORT}?state=done&amp;label=custom.vip-kunden"' in html


def test_the_export_keeps_formulas_from_running(as_manager, make_operation):
    make_operation(
        '=HYPERLINK("http://evil")',
        outcome="+1",
        refs=[(Ref.LABEL, "custom.a", "@SUM(A1)"), (Ref.CONTACT, "id-1", "-2")],
    )
    make_operation("\tTabbed", refs=[(Ref.AUDIENCE, "3", "\rReturn")])
    table = read_csv(as_manager.get(EXPORT))
    assert table[1][4] == "'\tTabbed"
    assert table[1][8] == "'\rReturn"
    assert table[2][4:9] == ['\'=HYPERLINK("http://evil")', "'+1", "'@SUM(A1)", "'-2", ""]


def test_bad_export_filters_get_a_plain_message(as_manager, history):
    response = as_manager.get(EXPORT, {"date_from": "31.12.2026"})
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "From: Enter a date as YYYY-MM-DD" in response.content.decode()
    both = as_manager.get(EXPORT, {"label": "custom.a", "audience": "3"})
    assert both.status_code == 400
    assert "one thing at a time" in both.content.decode()


def test_marketing_sees_no_export_link(as_marketer, history):
    assert "Export CSV" not in as_marketer.get(HISTORY).content.decode()


# --- permissions ------------------------------------------------------------------------------

PAGES = {
    "history": (HISTORY, ("journal.view_operation",)),
    "export": (EXPORT, ("journal.view_operation", "journal.export_operation")),
    "label": (label_page("custom.vip"), ("labels.view_label",)),
    "contact": (contact_page("c0ffee00"), ("contacts.view_contact",)),
    "audience": (audience_page(7), ("contacts.view_audience",)),
}


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_people_are_sent_to_log_in(client, page):
    url, _ = PAGES[page]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("page", PAGES)
def test_each_page_needs_its_permissions(client, page):
    url, needed = PAGES[page]
    for missing in needed:
        holder = make_user(f"without-{missing}", *(p for p in needed if p != missing))
        client.force_login(holder)
        assert client.get(url).status_code == 403, missing
    client.force_login(make_user("holder", *needed))
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 405


def test_a_labels_history_takes_the_change_permission_too(client):
    client.force_login(make_user("changer", "labels.change_label"))
    assert client.get(label_page("custom.vip")).status_code == 200


def test_other_histories_need_only_their_own_permission(client, history):
    client.force_login(make_user("labels-only", "labels.view_label"))
    assert client.get(HISTORY).status_code == 403
    html = client.get(label_page("custom.vip-kunden")).content.decode()
    # Links lead only where this person may go.
    assert f'href="{label_page("custom.vip-kunden")}"' in html
    assert "/journal/operation/contact/" not in html


def test_the_roles(marketer, manager):
    assert marketer.has_perm("journal.view_operation")
    assert not marketer.has_perm("journal.export_operation")
    assert manager.has_perm("journal.view_operation")
    assert manager.has_perm("journal.export_operation")


# --- queries ----------------------------------------------------------------------------------


def test_a_page_takes_the_same_queries_for_5_and_50_changes(
    as_manager, manager, make_operation, django_assert_max_num_queries
):
    def fill(n: int) -> None:
        Operation.objects.all().delete()
        for i in range(n):
            make_operation(
                f"Change {i}.",
                user=manager if i % 2 else None,
                refs=[
                    (Ref.LABEL, f"custom.l{i}", f"L {i}"),
                    (Ref.LABEL, f"custom.m{i}", f"M {i}"),
                    (Ref.CONTACT, f"id-{i}", f"Contact {i}"),
                ],
            )

    fill(5)
    as_manager.get(HISTORY)  # warm caches (content types, sessions)
    with django_assert_max_num_queries(12) as five:
        as_manager.get(HISTORY)
    fill(50)
    with django_assert_max_num_queries(len(five.captured_queries)):
        response = as_manager.get(HISTORY)
    assert len(rows(response)) == 50
    assert not any('"args"' in q["sql"] for q in five.captured_queries)
