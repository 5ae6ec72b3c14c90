"""Finding labels by name (not by key), sorting names as people read them, and keeping the sort
while searching; the label pickers' search; Cancel on the near-duplicate warning; and every
changing control saying that it is working."""

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from labels.models import LabelDeletion, LabelJob
from labels.selectors import label_list, label_list_for_search
from tests.fixtures.users import HTMX, make_user
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:labels_label_changelist")
CREATE = reverse("admin:labels_label_create")
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def labels(*names: str, namespace: str = "custom") -> list[Label]:
    made = []
    for name in names:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        made.append(
            Label.objects.create(key=f"{namespace}.{slug}", display_name=name, namespace=namespace)
        )
    return made


@pytest.fixture
def shelf(db):
    made = labels(
        "Yoga Class",
        "Spring Sale",
        "spring promo",
        "Customers",
        "Returning Customer",
        "Newsletter",
        "VIP",
        "Hot-spring visitors",
        "Offspring parents",
        "Bespoke",
    )
    people = Contact.objects.bulk_create(
        Contact(wix_id=f"c{i}", remote_created_at=WHEN, remote_updated_at=WHEN) for i in range(3)
    )
    by_name = {label.display_name: label for label in made}
    ContactLabel.objects.bulk_create(
        ContactLabel(contact=c, label=by_name["Spring Sale"]) for c in people
    )
    ContactLabel.objects.create(contact=people[0], label=by_name["spring promo"])
    return by_name


# --- the pickers' search ----------------------------------------------------------------------


def names(found) -> list[str]:
    return [label.display_name for label in found]


def test_search_matches_names_not_keys(shelf):
    assert names(label_list_for_search(text="cust")) == ["Customers", "Returning Customer"]
    assert label_list_for_search(text="custom.") == []


def test_search_puts_name_starts_then_word_starts_then_the_rest(shelf):
    found = names(label_list_for_search(text="spring"))
    assert found == ["spring promo", "Spring Sale", "Hot-spring visitors", "Offspring parents"]


def test_search_ignores_case_and_ties_by_name_case_insensitively(shelf):
    assert names(label_list_for_search(text="SPRING"))[:2] == ["spring promo", "Spring Sale"]


def test_search_gives_each_label_its_contact_count_in_one_query(shelf, django_assert_num_queries):
    with django_assert_num_queries(1):
        found = label_list_for_search(text="spring")
    counts = {label.display_name: label.contact_count for label in found}
    assert counts == {
        "spring promo": 1,
        "Spring Sale": 3,
        "Hot-spring visitors": 0,
        "Offspring parents": 0,
    }


def test_search_leaves_out_the_excluded_and_stops_at_the_limit(shelf):
    spring_sale = shelf["Spring Sale"]
    found = label_list_for_search(text="spring", exclude=[spring_sale.key], limit=2)
    assert names(found) == ["spring promo", "Hot-spring visitors"]


def test_empty_search_lists_labels_by_name(shelf):
    found = names(label_list_for_search(text="  ", limit=4))
    assert found == ["Bespoke", "Customers", "Hot-spring visitors", "Newsletter"]


# --- the labels page's list -------------------------------------------------------------------


def test_name_sort_ignores_case(shelf):
    found = names(label_list(order="name"))
    assert found.index("spring promo") == found.index("Spring Sale") - 1
    assert found[-1] == "Yoga Class"
    assert names(label_list(order="-name"))[0] == "Yoga Class"


def test_same_names_but_for_case_tie_by_key(db):
    labels("Sale")
    Label.objects.create(key="custom.sale-2", display_name="sale", namespace="custom")
    Label.objects.create(key="custom.a-sale", display_name="SALE", namespace="custom")
    keys = [label.key for label in label_list(order="name")]
    # case-insensitively equal: the exact name (code point) decides, then the key
    assert keys == ["custom.a-sale", "custom.sale", "custom.sale-2"]


def test_contact_sort_ties_by_name_case_insensitively(shelf):
    found = names(label_list(order="contacts"))
    zero = [name for name in found if name not in ("Spring Sale", "spring promo")]
    assert zero == sorted(zero, key=str.lower)


def test_list_search_matches_names_and_keys_only_when_the_text_looks_like_a_key(shelf):
    assert names(label_list(query="cust")) == ["Customers", "Returning Customer"]
    assert names(label_list(query="custom.vip")) == ["VIP"]
    assert len(label_list(query="custom.")) == len(shelf)


@pytest.fixture
def as_manager(client, manager):
    client.force_login(manager)
    return client


def test_searching_keeps_the_sort(as_manager, shelf):
    html = as_manager.get(CHANGELIST, {"q": "spring", "o": "-contacts"}, headers=HTMX)
    html = html.content.decode()
    # The search form's sort travels with the table, so a search after a sort keeps it.
    assert '<input type="hidden" name="o" value="-contacts" form="label-search">' in html
    first = html.split("<tbody")[1].split("</tr>")[0]
    assert "Spring Sale" in first
    assert "4 labels matching “spring”" in html


def test_sort_links_keep_the_search(as_manager, shelf):
    html = as_manager.get(CHANGELIST, {"q": "spring"}, headers=HTMX).content.decode()
    assert 'href="?q=spring&amp;o=-name"' in html
    assert 'href="?q=spring&amp;o=-contacts"' in html
    assert 'href="?q=spring&amp;o=-changed"' in html


def test_the_full_page_has_the_sort_in_the_search_form(as_manager, shelf):
    html = as_manager.get(CHANGELIST, {"o": "-name"}).content.decode()
    assert '<input type="hidden" name="o" value="-name" form="label-search">' in html
    assert 'hx-include="#label-search"' in html


# --- Cancel on the near-duplicate warning -----------------------------------------------------


def test_cancel_gives_back_the_empty_create_form(as_manager, shelf):
    warned = as_manager.post(CREATE, {"display_name": "vip"}, headers=HTMX).content.decode()
    assert "Create anyway" in warned
    cancel = re.search(r'hx-get="([^"]+)"[^>]*data-cancel>Cancel', warned).group(1)
    html = as_manager.get(cancel, headers=HTMX).content.decode()
    assert html.strip().startswith('<section id="label-create"')
    assert "nearly the same name" not in html
    assert "Create label</button>" in html
    assert 'value=""' in html
    assert 'name="idempotency_key"' in html
    assert "autofocus" in html


def test_create_form_without_htmx_goes_to_the_labels_page(as_manager):
    response = as_manager.get(CREATE)
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST


def test_create_form_needs_add_label(client, roles):
    client.force_login(make_user("viewer", "labels.view_label"))
    assert client.get(CREATE, headers=HTMX).status_code == 403


# --- busy feedback ----------------------------------------------------------------------------


def busy(html: str, marker: str) -> str:
    """The opening tag of the element that holds `marker`."""
    start = html.rindex("<", 0, html.index(marker))
    return html[start : html.index(">", html.index(marker)) + 1]


def test_every_changing_control_disables_itself_and_shows_progress(as_manager, synced, manager):
    synced()
    vip = Label.objects.get(key="custom.vip")
    page = as_manager.get(CHANGELIST).content.decode()
    create = busy(page, f'hx-post="{CREATE}"')
    assert 'hx-disabled-elt="find button[type=submit], find [data-cancel]"' in create
    assert 'hx-indicator="#label-create-busy"' in create
    assert 'id="label-create-busy"' in page

    edit = as_manager.get(reverse("admin:labels_label_edit", args=[vip.key]), headers=HTMX)
    rename = busy(edit.content.decode(), "hx-post=")
    assert "hx-disabled-elt=" in rename
    assert f'hx-indicator="#rename-{vip.pk}-busy"' in rename

    confirm = as_manager.get(
        reverse("admin:labels_label_delete_confirm", args=[vip.key]), headers=HTMX
    ).content.decode()
    delete = busy(confirm, "hx-post=")
    assert "hx-disabled-elt=" in delete
    assert f'hx-indicator="#delete-{vip.pk}-busy"' in delete

    deleted = as_manager.post(
        reverse("admin:labels_label_remove", args=[vip.key]), {"expected_name": "VIP"}, headers=HTMX
    ).content.decode()
    deletion = LabelDeletion.objects.get()
    undo = busy(deleted, "hx-post=")
    assert 'hx-disabled-elt="find button"' in undo
    assert f'id="deletion-row-{deletion.pk}-busy"' in deleted
    listed = as_manager.get(reverse("admin:labels_label_deletions"), headers=HTMX)
    assert 'hx-disabled-elt="find button"' in busy(listed.content.decode(), "hx-post=")

    preview = as_manager.get(
        reverse("admin:labels_label_merge_preview"),
        {"source": ["custom.lead", "custom.newsletter"]},
        headers=HTMX,
    ).content.decode()
    merge = busy(preview, "hx-post=")
    assert 'hx-disabled-elt="this, next [data-cancel]"' in merge
    assert 'hx-indicator="#label-merge-busy"' in merge
    assert 'id="label-merge-busy"' in preview


def test_job_buttons_disable_themselves_and_show_progress(as_manager, manager):
    job = LabelJob.objects.create(
        requested_by=manager,
        description="Give a label",
        status=LabelJob.Status.STUCK,
        total=3,
        failed_contact_ids=["c1"],
        add_keys=["custom.vip"],
    )
    html = as_manager.get(
        reverse("admin:labels_labeljob_progress", args=[job.pk]), headers=HTMX
    ).content.decode()
    for button in ("Retry the 1 failed contact<", "Look again<"):
        tag = busy(html, button)
        assert 'hx-disabled-elt="this"' in tag
        assert f'hx-indicator="#job-{job.pk}-busy"' in tag
    assert f'id="job-{job.pk}-busy"' in html


# --- a job's end brings the table along -------------------------------------------------------


def finished_job(user) -> LabelJob:
    return LabelJob.objects.create(
        requested_by=user,
        description="Merge “Lead” into “VIP”",
        kind=LabelJob.Kind.MERGE,
        status=LabelJob.Status.SUCCEEDED,
        total=2,
        done=2,
    )


def progress(job) -> str:
    return reverse("admin:labels_labeljob_progress", args=[job.pk])


def test_the_labels_page_asks_for_the_table_with_each_progress(as_manager, shelf):
    html = as_manager.get(CHANGELIST, {"o": "-contacts", "page": 1}).content.decode()
    activity = busy(html, 'id="label-activity"')
    assert 'hx-include="#label-search, #label-table-page"' in activity
    assert 'hx-vals=\'{"table": "true"}\'' in activity
    assert '<input type="hidden" name="page" value="1" id="label-table-page">' in html


def test_a_finished_job_brings_the_table_in_its_state(as_manager, manager, shelf):
    job = finished_job(manager)
    response = as_manager.get(
        progress(job), {"table": "true", "q": "spring", "o": "-contacts", "page": "1"}, headers=HTMX
    )
    html = response.content.decode()
    assert "labelJobFinished" in response["HX-Trigger"]
    assert html.index(f'id="job-progress-{job.pk}"') < html.index('id="label-table"')
    assert '<div id="label-table" class="label-table-wrap" hx-swap-oob="true">' in html
    assert "4 labels matching “spring”" in html
    first = html.split("<tbody")[1].split("</tr>")[0]
    assert "Spring Sale" in first  # most contacts first: the sort was kept


def test_a_running_job_or_another_page_gets_no_table(as_manager, manager, shelf):
    job = finished_job(manager)
    elsewhere = as_manager.get(progress(job), headers=HTMX).content.decode()
    assert 'id="label-table"' not in elsewhere
    LabelJob.objects.filter(pk=job.pk).update(status=LabelJob.Status.RUNNING)
    running = as_manager.get(progress(job), {"table": "true"}, headers=HTMX).content.decode()
    assert 'id="label-table"' not in running


def test_no_table_for_someone_who_may_not_see_labels(client, roles, shelf):
    watcher = make_user("watcher")
    client.force_login(watcher)
    job = finished_job(watcher)  # one's own job may always be watched
    html = client.get(progress(job), {"table": "true"}, headers=HTMX).content.decode()
    assert f'id="job-progress-{job.pk}"' in html
    assert 'id="label-table"' not in html
