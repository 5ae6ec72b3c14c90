"""A label's own page (admin:labels_label_detail): its contacts, audiences, history, and 404s."""

from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

import pytest
from django.urls import resolve, reverse
from django.utils import timezone

from contacts.models import Audience
from journal.models import Operation, OperationRef
from labels.models import LabelDeletion
from tests.fixtures.users import HTMX, make_user
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 1, 1, tzinfo=UTC)
CHANGELIST = reverse("admin:labels_label_changelist")


def detail(key: str) -> str:
    return reverse("admin:labels_label_detail", args=[key])


def make_label(key="custom.spring-sale", name="Spring Sale", *, system=False) -> Label:
    return Label.objects.create(
        key=key,
        display_name=name,
        namespace=key.split(".", 1)[0],
        label_type=Label.Type.SYSTEM if system else Label.Type.USER_DEFINED,
    )


def give(label: Label, n: int, *, start: int = 0) -> list[Contact]:
    contacts = Contact.objects.bulk_create(
        Contact(
            wix_id=f"c{i:04}",
            first_name=f"Person{i}",
            email=f"p{i}@example.com",
            remote_created_at=WHEN + timedelta(days=i),
            remote_updated_at=WHEN,
        )
        for i in range(start, start + n)
    )
    ContactLabel.objects.bulk_create(ContactLabel(contact=c, label=label) for c in contacts)
    return contacts


def record(label: Label, summary: str, *, user=None, minutes: int = 0) -> Operation:
    op = Operation.objects.create(
        kind=Operation.Kind.LABEL_RENAME, state=Operation.State.DONE, summary=summary, user=user
    )
    Operation.objects.filter(pk=op.pk).update(
        created_at=timezone.now() + timedelta(minutes=minutes)
    )
    OperationRef.objects.create(
        operation=op, kind=OperationRef.Kind.LABEL, ref=label.key, name=label.display_name
    )
    return op


@pytest.fixture
def as_manager(client, manager):
    client.force_login(manager)
    return client


# --- what it shows ----------------------------------------------------------------------------


def test_shows_name_type_key_count_and_the_way_to_its_contacts(as_manager):
    label = make_label()
    give(label, 3)
    html = as_manager.get(detail(label.key)).content.decode()
    assert '<h1 class="label-title">Spring Sale</h1>' in html
    assert "User label" in html
    assert "<code>custom.spring-sale</code>" in html
    assert "<strong>3 contacts</strong> have this label." in html
    contacts_url = reverse("admin:contacts_contact_changelist") + "?all=custom.spring-sale"
    assert f'href="{contacts_url}">See its contacts</a>' in html
    assert reverse("admin:journal_operation_label_history", args=[label.key]) in html


def test_one_contact_is_singular(as_manager):
    label = make_label()
    give(label, 1)
    html = as_manager.get(detail(label.key)).content.decode()
    assert "<strong>1 contact</strong> has this label." in html


def test_names_are_shown_as_written(as_manager):
    label = make_label(name="spring promo (ÉTÉ)")
    html = as_manager.get(detail(label.key)).content.decode()
    assert "spring promo (ÉTÉ)</h1>" in html
    assert "<title>spring promo (ÉTÉ) |" in html


def test_first_page_of_contacts_newest_first_each_linking_to_the_contact(as_manager):
    label = make_label()
    contacts = give(label, 30)  # Person0 the oldest, Person29 the newest
    html = as_manager.get(detail(label.key)).content.decode()
    assert "The newest 25 of 30." in html
    assert "See all 30 on the contacts page" in html
    table = html.split('class="label-contacts"')[1].split("</table>")[0]
    newest = list(range(29, 4, -1))
    positions = [table.index(f">Person{i}</a>") for i in newest]
    assert positions == sorted(positions)
    for i in newest:
        assert reverse("admin:contacts_contact_change", args=[contacts[i].pk]) in table
    assert ">Person4<" not in table  # the five oldest are on the contacts page only


def test_a_label_nobody_has(as_manager):
    label = make_label()
    html = as_manager.get(detail(label.key)).content.decode()
    assert "<strong>0 contacts</strong> have this label." in html
    assert "No contact has this label." in html


def test_saved_audiences_that_use_it_are_listed(as_manager, manager):
    label = make_label()
    other = make_label("custom.other", "Other")
    Audience.objects.create(name="Spring buyers", rules={"all_of": [label.key]})
    Audience.objects.create(name="Not spring", rules={"none_of": [label.key]})
    Audience.objects.create(name="Unrelated", rules={"all_of": [other.key]})
    html = as_manager.get(detail(label.key)).content.decode()
    section = html.split('id="label-audiences-title"')[1].split("</section>")[0]
    assert "2 saved audiences use this label" in section
    assert "Spring buyers</a>" in section
    assert "Not spring</a>" in section
    assert "Unrelated" not in section


def test_no_audience_uses_it(as_manager):
    label = make_label()
    html = as_manager.get(detail(label.key)).content.decode()
    assert "No saved audience uses this label." in html


def test_history_lists_the_last_ten_changes_newest_first(as_manager, manager):
    label = make_label()
    other = make_label("custom.other", "Other")
    for i in range(12):
        record(label, f"Change number {i:02}", user=manager, minutes=i)
    record(other, "Not about this label")
    html = as_manager.get(detail(label.key)).content.decode()
    section = html.split('id="label-history-title"')[1].split("</section>")[0]
    shown = [f"Change number {i:02}" for i in range(11, 1, -1)]
    positions = [section.index(text) for text in shown]
    assert positions == sorted(positions)
    assert "Change number 01" not in section
    assert "Not about this label" not in section
    assert "manager" in section
    assert "See all 12 changes" in section
    assert reverse("admin:journal_operation_label_history", args=[label.key]) in section


def test_actions_follow_the_permissions(client, manager, marketer):
    label = make_label()
    client.force_login(manager)
    html = client.get(detail(label.key)).content.decode()
    for action in ("Rename…", "Delete…", "Merge with other labels…"):
        assert action in html
    row = f"{CHANGELIST}?q=custom.spring-sale#label-row-{label.pk}"
    assert f'href="{row}"' in html

    client.force_login(marketer)
    html = client.get(detail(label.key)).content.decode()
    assert "See its contacts" in html
    for action in ("Rename…", "Delete…", "Merge with other labels…"):
        assert action not in html


def test_a_system_label_offers_no_rename_or_delete(as_manager):
    label = make_label("contacts.customers", "Customers", system=True)
    html = as_manager.get(detail(label.key)).content.decode()
    assert "Locked system label" in html
    assert "Rename…" not in html
    assert "Delete…" not in html
    assert "Wix does not allow renaming or deleting it" in html


def test_without_contacts_or_audiences_permission_only_numbers_are_shown(client, roles):
    label = make_label()
    contact = give(label, 1)[0]
    contact.email = "secret@example.com"
    contact.save()
    Audience.objects.create(name="Spring buyers", rules={"all_of": [label.key]})
    client.force_login(make_user("viewer", "labels.view_label"))
    html = client.get(detail(label.key)).content.decode()
    # Who has the label and which audiences use it are other pages' business.
    assert "Person0" not in html
    assert "secret@example.com" not in html
    assert reverse("admin:contacts_contact_change", args=[contact.pk]) not in html
    assert "See its contacts" not in html
    assert "Who has it is shown only to people who may see contacts." in html
    assert "Spring buyers" not in html
    assert "1 saved audience uses this label (their names are shown only to" in html
    # With audiences but not contacts: the names, not links.
    client.force_login(make_user("planner", "labels.view_label", "contacts.view_audience"))
    html = client.get(detail(label.key)).content.decode()
    assert "Spring buyers</li>" in html
    assert "Person0" not in html


# --- keys in the address ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "custom.vip",
        "custom.a.b.c",
        "contacts.customers",
        "wix_forms.contact-form-1",
        "custom.été-ü",
        "custom.50%-off",
        "custom.a b",
        "custom.what?#now&then=1",
        "custom.label",  # "label" in the key, like the route's own word
        "custom.row",
    ],
)
def test_keys_with_dots_and_odd_characters_resolve(as_manager, key):
    label = make_label(key, f"Name of {key}")
    url = detail(key)
    match = resolve(unquote(url))  # as the server sees the path, once decoded
    assert match.url_name == "labels_label_detail"
    assert match.kwargs == {"key": key}
    response = as_manager.get(url)
    assert response.status_code == 200
    assert f"Name of {key}" in response.content.decode().replace("&amp;", "&")
    assert response.context["label"] == label


def test_the_route_does_not_take_over_the_other_label_routes():
    assert resolve(reverse("admin:labels_label_row", args=["custom.vip"])).url_name == (
        "labels_label_row"
    )
    assert resolve(reverse("admin:labels_label_change", args=[7])).url_name == (
        "labels_label_change"
    )
    assert resolve("/admin/labels/label/7/").url_name != "labels_label_detail"


# --- gone -------------------------------------------------------------------------------------


def test_unknown_key_is_a_plain_404_with_a_way_back(as_manager):
    response = as_manager.get(detail("custom.nope"))
    assert response.status_code == 404
    html = response.content.decode()
    assert "There is no label with key <code>custom.nope</code>. It may have been deleted." in html
    assert f'href="{CHANGELIST}">Go to the labels page</a>' in html
    assert "undo" not in html.lower().split("<main")[1]


def test_a_deleted_label_links_to_its_undo_on_the_labels_page(as_manager, manager):
    deletion = LabelDeletion.objects.create(
        key="custom.gone", display_name="Gone Sale", contact_ids=["c1"], deleted_by=manager
    )
    response = as_manager.get(detail("custom.gone"))
    assert response.status_code == 404
    html = response.content.decode()
    assert "“Gone Sale” was deleted by manager" in html
    assert (
        f'href="{CHANGELIST}#deletion-{deletion.pk}">undo it under “Recently deleted”</a>' in html
    )


def test_a_deleted_label_for_someone_who_cannot_undo(client, marketer, manager):
    LabelDeletion.objects.create(
        key="custom.gone", display_name="Gone Sale", contact_ids=[], deleted_by=manager
    )
    client.force_login(marketer)
    html = client.get(detail("custom.gone")).content.decode()
    assert "A label manager can still undo that" in html


def test_a_restored_label_links_to_its_new_key(as_manager, manager):
    new = make_label("custom.gone-2", "Gone Sale")
    LabelDeletion.objects.create(
        key="custom.gone",
        display_name="Gone Sale",
        contact_ids=[],
        deleted_by=manager,
        restored_at=timezone.now(),
        restored_key=new.key,
    )
    response = as_manager.get(detail("custom.gone"))
    assert response.status_code == 404
    assert f'href="{detail(new.key)}">Gone Sale</a>' in response.content.decode()


def test_nul_in_the_key_is_a_404_not_a_database_error(as_manager):
    assert (
        as_manager.get("/admin/labels/label/label/" + quote("custom.a\x00b") + "/").status_code
        == 404
    )


# --- who may see it ---------------------------------------------------------------------------


@pytest.mark.parametrize("perm", ["labels.view_label", "labels.change_label"])
def test_view_or_change_label_is_enough(client, roles, perm):
    label = make_label()
    client.force_login(make_user("someone", perm))
    assert client.get(detail(label.key)).status_code == 200


def test_staff_without_the_permission_get_403(client, roles):
    label = make_label()
    client.force_login(make_user("someone", "labels.add_label", "contacts.view_contact"))
    assert client.get(detail(label.key)).status_code == 403
    assert client.get(detail("custom.nope")).status_code == 403  # no hint whether it exists


def test_anonymous_goes_to_login(client, db):
    response = client.get(detail("custom.vip"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_only_get(as_manager):
    label = make_label()
    assert as_manager.post(detail(label.key)).status_code == 405


# --- cost -------------------------------------------------------------------------------------


def test_query_count_does_not_grow_with_contacts_audiences_or_history(
    as_manager, manager, django_assert_max_num_queries
):
    label = make_label()
    give(label, 3)
    record(label, "A change", user=manager)
    as_manager.get(detail(label.key))  # warm caches (content types, sessions)
    with django_assert_max_num_queries(15) as few:
        as_manager.get(detail(label.key))
    give(label, 200, start=3)
    for i in range(20):
        record(label, f"Change {i}", user=make_user(f"person{i}"), minutes=i)
        Audience.objects.create(name=f"Audience {i}", rules={"any_of": [label.key]})
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = as_manager.get(detail(label.key)).content.decode()
    assert "<strong>203 contacts</strong>" in html


# --- reached from the labels page -------------------------------------------------------------


def test_the_labels_page_links_each_name_and_count_to_the_label_page(as_manager):
    label = make_label()
    give(label, 2)
    html = as_manager.get(CHANGELIST).content.decode()
    row = html.split(f'id="label-row-{label.pk}"')[1].split("</tr>")[0]
    assert f'<a class="label-name" href="{detail(label.key)}"' in row
    assert f'<a class="count" href="{detail(label.key)}"' in row
    assert 'aria-label="2 contacts with “Spring Sale”"' in row


def test_the_create_message_names_the_label_and_links_its_page(as_manager, wix_settings):
    html = as_manager.post(
        reverse("admin:labels_label_create"), {"display_name": "Autumn fair"}, headers=HTMX
    ).content.decode()
    label = Label.objects.get(display_name="Autumn fair")
    message = html.split('class="label-result')[1].split("</p>")[0]
    assert "Created “Autumn fair”." in message
    assert label.key not in message.replace(detail(label.key), "")
    assert f'href="{detail(label.key)}"' in message
