"""How labels overlap (labels/selectors.py label_overlap, labels/charts.py, the overlap page):
the pair counts from the label index and from the memberships equal a count in Python sets,
every cell opens its pair's audience, names are escaped, and the page checks its permission."""

from __future__ import annotations

import itertools
from collections import defaultdict
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import transaction
from django.urls import reverse

from labels.charts import overlap_map, short_number
from labels.selectors import label_overlap
from tests.fixtures.users import HTMX
from wixcache.models import ContactLabel, Label

URL = reverse("admin:labels_label_overlap")
CONTACTS = reverse("admin:contacts_contact_changelist")


def _by_sets() -> tuple[dict[int, int], dict[tuple[int, int], int]]:
    holders: dict[int, set[int]] = defaultdict(set)
    for contact_id, label_id in ContactLabel.objects.values_list("contact_id", "label_id"):
        holders[label_id].add(contact_id)
    both = {(a, b): len(holders[a] & holders[b]) for a, b in itertools.permutations(holders, 2)}
    return {pk: len(s) for pk, s in holders.items()}, both


def _check(overlap, sizes, both) -> None:
    ranked = sorted(sizes, key=lambda pk: (-sizes[pk], pk))
    assert [label.pk for label in overlap.labels] == ranked[: len(overlap.labels)]
    for a, b in itertools.product(overlap.labels, repeat=2):
        want = sizes[a.pk] if a.pk == b.pk else both[a.pk, b.pk]
        assert overlap.pair(a, b) == want, (a.key, b.key)


@pytest.mark.django_db(transaction=True)
def test_the_index_and_the_memberships_count_each_pair_as_python_sets_do(synced):
    synced(contacts=120, labels=10)
    sizes, both = _by_sets()

    from_index = label_overlap(size=6)
    with transaction.atomic():  # the index steps aside: the memberships answer
        from_rows = label_overlap(size=6)

    assert len(from_index.labels) == 6
    _check(from_index, sizes, both)
    _check(from_rows, sizes, both)


@pytest.mark.django_db
def test_each_cell_opens_the_audience_of_its_two_labels_and_says_its_numbers(synced):
    synced(contacts=60, labels=6)
    overlap = label_overlap(size=4)
    chart = overlap_map(overlap, contacts_url=CONTACTS)
    assert len(chart.cells) == 16
    a, b = overlap.labels[0], overlap.labels[1]
    cell = next(c for c in chart.cells if c.row == a and c.column == b)
    assert parse_qs(urlsplit(cell.url).query) == {"all": [a.key, b.key]}
    assert cell.count == overlap.pair(a, b)
    assert cell.said.startswith(f"{a.display_name} and {b.display_name}: {cell.count:,} contacts")
    alone = next(c for c in chart.cells if c.row == a and c.column == a)
    assert alone.shade == "heat-self"
    assert parse_qs(urlsplit(alone.url).query) == {"all": [a.key]}


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0"),
        (999, "999"),
        (1000, "1k"),
        (1250, "1.2k"),
        (45_100, "45k"),
        (1_000_000, "1M"),
        (1_250_000, "1.2M"),
    ],
)
def test_short_numbers(n, text):
    assert short_number(n) == text


@pytest.mark.django_db
def test_the_page_and_its_panel(client, synced, marketer):
    synced(contacts=60, labels=6)
    label = label_overlap(size=12).labels[0]
    Label.objects.filter(pk=label.pk).update(display_name="<b>VIP</b> & co")
    client.force_login(marketer)

    page = client.get(URL)
    panel = client.get(URL, {"size": "6"}, headers=HTMX)
    odd = client.get(URL, {"size": "7000"}, headers=HTMX)

    assert page.status_code == panel.status_code == odd.status_code == 200
    body = panel.content.decode()
    assert body.lstrip().startswith('<div id="label-overlap"')
    assert "&lt;b&gt;VIP&lt;/b&gt; &amp; co" in body
    assert "<b>VIP</b>" not in body
    assert body.count('class="overlap-cell"') == 36
    assert f'href="{CONTACTS}?all=' in body  # a marketer may see contacts: cells are links
    assert '<option value="12" selected>' in odd.content.decode()  # an unknown size: the default


@pytest.mark.django_db
def test_without_contacts_the_cells_are_no_links(client, synced, roles):
    from tests.fixtures.users import make_user

    synced(contacts=30, labels=4)
    reader = make_user("reader", "labels.view_label")
    client.force_login(reader)
    body = client.get(URL, headers=HTMX).content.decode()
    assert 'class="overlap-cell"' in body
    assert f'href="{CONTACTS}' not in body


@pytest.mark.django_db
def test_too_few_labels_says_so(client, synced, marketer):
    synced(contacts=0, labels=0)
    client.force_login(marketer)
    body = client.get(URL, headers=HTMX).content.decode()
    assert "Two labels with contacts are needed" in body
