"""The saved audiences list: the name opens the audience, the rules in words, Edit name and
Duplicate for those who may."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts.models import Audience
from contacts.segments import SegmentRules, rules_in_words
from contacts.views import audience_url
from labels.models import LabelDeletion
from tests.fixtures.users import make_user
from wixcache.models import Label

pytestmark = pytest.mark.django_db
LIST = reverse("admin:contacts_audience_changelist")


@pytest.fixture
def labels():
    return {
        name: Label.objects.create(
            key=f"custom.{name.lower()}", display_name=name, namespace="custom"
        )
        for name in ("Lead", "VIP", "Unsubscribed")
    }


def test_rules_in_words():
    names = {"custom.lead": "Lead", "custom.vip": "VIP", "custom.unsub": "Unsubscribed"}
    rules = SegmentRules(
        all_of=("custom.lead", "custom.vip"), none_of=("custom.unsub",), search="anna"
    )
    assert rules_in_words(rules, names) == "ALL of Lead, VIP · NONE of Unsubscribed · search “anna”"
    assert rules_in_words(SegmentRules(any_of=("custom.vip",), unlabeled=True), names) == (
        "ANY of VIP · only contacts with no labels"
    )
    assert rules_in_words(SegmentRules(all_of=("custom.gone",)), names) == (
        "ALL of custom.gone (deleted)"
    )
    assert rules_in_words(SegmentRules(), names) == "Every contact"


def test_the_list_names_open_the_audience_with_its_rules_in_words(admin_client, admin_user, labels):
    rules = SegmentRules(
        all_of=("custom.lead", "custom.vip"), none_of=("custom.unsubscribed", "custom.gone")
    )
    LabelDeletion.objects.create(
        key="custom.gone", display_name="Old list", label_type=Label.Type.USER_DEFINED
    )
    audience = Audience.objects.create(
        name="VIP <leads>", description="Warm ones", rules=rules.as_json(), created_by=admin_user
    )
    html = admin_client.get(LIST).content.decode()
    assert "<h1>Audiences</h1>" in html
    link = audience_url(audience).replace("&", "&amp;")
    assert f'<a class="audience-name" href="{link}">VIP &lt;leads&gt;</a>' in html
    assert "ALL of Lead, VIP · NONE of Unsubscribed, Old list (deleted)" in html
    change = reverse("admin:contacts_audience_change", args=[audience.pk])
    assert f'<a href="{change}">Edit name</a>' in html
    duplicate = reverse("admin:contacts_audience_duplicate", args=[audience.pk])
    assert f'class="button" hx-post="{duplicate}"' in html
    # The name no longer leads to the bare Name/Description form.
    assert f'href="{change}">VIP' not in html


def test_others_see_no_edit_name_and_only_savers_see_duplicate(client, admin_user, labels):
    audience = Audience.objects.create(
        name="Not mine", rules={"all_of": ["custom.lead"]}, created_by=admin_user
    )
    change = reverse("admin:contacts_audience_change", args=[audience.pk])
    duplicate = reverse("admin:contacts_audience_duplicate", args=[audience.pk])
    viewer = make_user("viewer", "contacts.view_audience", "contacts.view_contact")
    client.force_login(viewer)
    html = client.get(LIST).content.decode()
    assert "Not mine" in html
    assert "Edit name" not in html
    assert duplicate not in html
    saver = make_user(
        "saver",
        "contacts.view_audience",
        "contacts.view_contact",
        "contacts.add_audience",
        "contacts.change_audience",
    )
    client.force_login(saver)
    html = client.get(LIST).content.decode()
    assert duplicate in html
    assert f'href="{change}">Edit name' not in html  # another person's audience


def test_the_list_costs_the_same_for_many_audiences(admin_client, admin_user, labels):
    def make(start, n):
        for i in range(start, start + n):
            Audience.objects.create(
                name=f"Audience {i}",
                rules={"all_of": ["custom.lead"], "none_of": ["custom.vip"], "search": f"a{i}"},
                created_by=admin_user,
            )

    def load() -> tuple[int, int]:
        """Queries of a first (cold) and a second (warm) view of the list."""
        cache.clear()
        with CaptureQueriesContext(connection) as cold:
            admin_client.get(LIST)
        with CaptureQueriesContext(connection) as warm:
            admin_client.get(LIST)
        return len(cold), len(warm)

    make(0, 2)
    few_cold, few_warm = load()
    make(2, 20)
    many_cold, many_warm = load()
    # The label names, the label ids, the version and the cached counts are read once for the
    # page, and a cold view counts every audience in one query: many cost what two cost.
    assert many_cold == few_cold
    assert many_warm == few_warm
