"""Nested audience rules at their edges, from a data-loss and permission review: input that
once gave a 500 (half a surrogate pair, the last date, Unicode digits, ids beyond bigint), names
of audiences shown to people who may not see them, loops and long chains of audiences, audiences
deleted under others, restored labels inside nested rules, and created dates changed later."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django.urls import reverse

from contacts import rules as nested
from contacts.models import Audience
from contacts.segments import SegmentRules
from contacts.selectors import contact_count_for_segment
from contacts.services import AudienceRefused, audience_delete, audience_update
from contacts.settle import audiences_using
from journal.models import Operation
from journal.services import label_key_replaced
from tests.contacts.test_nested_rule_views import site  # noqa: F401 (a fixture)
from tests.fixtures.users import HTMX, make_user
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db
PAGE = reverse("admin:contacts_contact_changelist")
RULE = reverse("admin:contacts_contact_rule")
SAVE = reverse("admin:contacts_contact_save")
EVERYONE = 8  # the `site` fixture's contacts


def text(document: dict) -> str:
    return json.dumps(document, separators=(",", ":"))


def saved(name: str, document: dict | None = None, **flat) -> Audience:
    tree = nested.from_document(document) if document else None
    return Audience.objects.create(name=name, rules=SegmentRules(tree=tree, **flat).as_json())


def count(audience: Audience) -> int:
    audience.refresh_from_db()
    return contact_count_for_segment(rules=SegmentRules.from_json(audience.rules))


# --- 4. bad input: a plain message, never a 500 ------------------------------------------------


def test_a_lone_surrogate_in_a_label_key_is_a_message_not_a_500(admin_client, site):  # noqa: F811
    # JSON's \ud800 escape gives Python a lone surrogate, which no database driver can encode
    # (UnicodeEncodeError on SQLite and PostgreSQL). A query string cannot carry one; JSON can.
    rule = '{"v":1,"all":[{"label":"\\ud800"}]}'
    response = admin_client.get(PAGE, {"rule": rule}, headers=HTMX)
    assert response.status_code in (200, 400)


def test_the_last_possible_end_date_is_a_message_not_a_500(admin_client, site):  # noqa: F811
    # `node.end + timedelta(days=1)` overflowed for 9999-12-31: dates stop at 9998-12-31.
    rule = text({"v": 1, "all": [{"created": {"to": "9999-12-31"}}]})
    response = admin_client.get(PAGE, {"rule": rule}, headers=HTMX)
    assert response.status_code == 200
    assert "Dates go from 1900-01-01 to 9998-12-31; 9999-12-31 is outside." in (
        response.content.decode()
    )
    rule = text({"v": 1, "all": [{"created": {"to": "9998-12-31"}}]})
    assert admin_client.get(PAGE, {"rule": rule}, headers=HTMX).context["count"] == EVERYONE


@pytest.mark.parametrize(("kind", "action"), [("days", "days"), ("audience", "audience")])
def test_the_builder_refuses_unicode_digits_plainly(admin_client, site, kind, action):  # noqa: F811
    # "²".isdigit() is True but int("²") raises a plain ValueError, which rule_edit does not catch.
    rule, _ = nested.edit(None, "add", "")
    rule, _ = nested.edit(rule, "kind", "0", kind)
    response = admin_client.get(
        RULE, {"rule": rule.text(), "do": action, "at": "0", "value": "²"}, headers=HTMX
    )
    assert response.status_code in (200, 400)


HUGE = 10**20  # beyond bigint: Django's exact lookup copes, its `__in` lookup does not


def test_an_audience_id_beyond_bigint_in_the_builder_is_a_message(admin_client, site):  # noqa: F811
    rule, _ = nested.edit(None, "add", "")
    rule, _ = nested.edit(rule, "kind", "0", "audience")
    response = admin_client.get(
        RULE, {"rule": rule.text(), "do": "audience", "at": "0", "value": str(HUGE)}, headers=HTMX
    )
    assert response.status_code in (200, 400)


def test_an_audience_id_beyond_bigint_on_the_full_page_is_a_message(admin_client, site):  # noqa: F811
    response = admin_client.get(PAGE, {"rule": text({"v": 1, "all": [{"audience": HUGE}]})})
    assert response.status_code in (200, 400)


def test_saving_an_audience_id_beyond_bigint_is_a_message(admin_client, site):  # noqa: F811
    mine = saved("Mine")
    response = admin_client.post(
        SAVE,
        {"audience": str(mine.pk), "name": "Mine", "rule": text({"all": [{"audience": HUGE}]})},
        headers=HTMX,
    )
    assert response.status_code in (200, 400)


# --- 3. permissions ---------------------------------------------------------------------------


def test_no_audience_name_for_someone_who_may_not_read_audiences(client, site):  # noqa: F811
    secret = saved("Layoffs <b>2027</b>", all_of=("custom.vip",))
    client.force_login(make_user("viewer", "contacts.view_contact"))
    rule = text({"v": 1, "all": [{"audience": secret.pk}]})
    page = client.get(PAGE, {"rule": rule}).content.decode()
    assert "Layoffs" not in page
    edit = client.get(RULE, {"rule": rule, "do": "op", "at": "", "value": "all"}, headers=HTMX)
    assert "Layoffs" not in edit.content.decode()


# --- 5. cycles and chains ---------------------------------------------------------------------


def test_a_cycle_saved_anyway_matches_nobody_even_through_none(site):  # noqa: F811
    # Two people saving at once (audience_update locks only the audience it saves) can make
    # A = NOT B, B = A. The docstrings promise such a loop matches nobody; B matches everyone.
    a = saved("A")
    b = saved("B", {"all": [{"audience": a.pk}]})
    a.rules = SegmentRules(tree=nested.from_document({"none": [{"audience": b.pk}]})).as_json()
    a.save()
    assert count(b) == 0
    assert (
        contact_count_for_segment(
            rules=SegmentRules(tree=nested.from_document({"all": [{"audience": b.pk}]}))
        )
        == 0
    )


def test_a_new_audience_cannot_name_itself(admin_client, site):  # noqa: F811
    # audience_create has no cycle check: a rule naming the id the new audience will get is
    # saved, and "in A or not in A" then matches everyone.
    probe = saved("probe")
    next_id = probe.pk + 1
    probe.delete()
    rule = {"any": [{"audience": next_id}, {"none": [{"audience": next_id}]}]}
    admin_client.post(SAVE, {"name": "Loop", "rule": text(rule)}, headers=HTMX)
    loop = Audience.objects.filter(name="Loop").first()
    assert loop is None or loop.pk != next_id or count(loop) == 0


def test_naming_an_audience_chain_costs_queries_linear_in_its_length(
    site,  # noqa: F811
    django_assert_max_num_queries,
):
    # Each audience names the next twice: the evaluator reads (and nests in SQL) 2**n copies.
    bottom = saved("A7", all_of=("custom.vip",))
    for level in range(6, -1, -1):
        bottom = saved(f"A{level}", {"any": [{"audience": bottom.pk}, {"audience": bottom.pk}]})
    rules = SegmentRules(tree=nested.from_document({"all": [{"audience": bottom.pk}]}))
    with django_assert_max_num_queries(40):  # it takes over 2**8
        assert contact_count_for_segment(rules=rules) == 2


def test_a_long_chain_of_audiences_is_refused_on_save_and_matches_nobody_if_made(
    admin_client,
    site,  # noqa: F811
):
    bottom = saved("C300", all_of=("custom.vip",))
    for level in range(299, 0, -1):
        bottom = saved(f"C{level}", {"all": [{"audience": bottom.pk}]})
    top = saved("C0")
    with pytest.raises(AudienceRefused, match="10 deep at most"):
        audience_update(
            audience=top,
            rules=SegmentRules(tree=nested.from_document({"all": [{"audience": bottom.pk}]})),
            user=make_user("boss", superuser=True),
        )
    # Made anyway (the chain above was written by hand): a plain page, matching nobody.
    response = admin_client.get(PAGE, {"rule": text({"v": 1, "all": [{"audience": bottom.pk}]})})
    assert response.status_code == 200
    assert response.context["count"] == 0


# --- 2. widening: saved audiences that silently match more ------------------------------------


def test_deleting_a_named_audience_does_not_widen_the_audience_naming_it(site):  # noqa: F811
    vips = saved("VIPs", all_of=("custom.vip",))
    others = saved("Not VIPs", {"all": [{"none": [{"audience": vips.pk}]}]})
    before = count(others)
    assert before == EVERYONE - 2
    with pytest.raises(AudienceRefused, match="“Not VIPs” names it in their rules"):
        audience_delete(audience=vips, user=make_user("boss", superuser=True))
    assert count(others) == before
    Audience.objects.filter(pk=vips.pk).delete()  # by hand: the rule has a hole, and then
    assert count(others) == 0  # matches nobody, never every contact (VIPs included)


def test_the_admin_delete_page_protects_a_named_audience(admin_client, site):  # noqa: F811
    vips = saved("VIPs", all_of=("custom.vip",))
    saved("Not VIPs", {"all": [{"none": [{"audience": vips.pk}]}]})
    url = reverse("admin:contacts_audience_delete", args=[vips.pk])
    page = admin_client.get(url).content.decode()
    assert "Audience “Not VIPs”, whose rules name “VIPs”" in page
    admin_client.post(url, {"post": "yes"})
    assert Audience.objects.filter(pk=vips.pk).exists()


def test_a_restored_label_s_new_key_reaches_nested_rules(site):  # noqa: F811
    audience = saved("No customers", {"all": [{"none": [{"label": "custom.customer"}]}]})
    assert count(audience) == EVERYONE - 1
    # The label is deleted and restored: Wix gives it a new key; its holder gets it back.
    old = Label.objects.get(key="custom.customer")
    holders = list(ContactLabel.objects.filter(label=old).values_list("contact_id", flat=True))
    old.delete()
    new = Label.objects.create(key="custom.customer2", display_name="Customer", namespace="custom")
    ContactLabel.objects.bulk_create(ContactLabel(contact_id=pk, label=new) for pk in holders)
    label_key_replaced.send(sender=Operation, old_key="custom.customer", new_key=new.key)
    audience.refresh_from_db()
    assert "custom.customer2" in json.dumps(audience.rules)
    assert count(audience) == EVERYONE - 1  # not every contact, the customer included


def test_label_deletion_warns_of_audiences_using_it_in_a_nested_rule(site):  # noqa: F811
    audience = saved("No customers", {"all": [{"none": [{"label": "custom.customer"}]}]})
    assert [user.name for user in audiences_using({"custom.customer"})] == [audience.name]


# --- 1. wrong results and stale counts -------------------------------------------------------


def test_a_created_date_count_follows_a_changed_created_date(site):  # noqa: F811
    # SQLite's version trigger fires on first_name, last_name, email and phone only; the
    # count of a "created between" rule is cached under it (contacts_store does write
    # remote_created_at on update).
    cache.clear()
    rules = SegmentRules(
        tree=nested.from_document(
            {"all": [{"created": {"from": "2026-01-01", "to": "2026-01-03"}}]}
        )
    )
    assert contact_count_for_segment(rules=rules) == 3
    Contact.objects.filter(wix_id="p7").update(remote_created_at=datetime(2026, 1, 2, tzinfo=UTC))
    assert contact_count_for_segment(rules=rules) == 4


def test_the_audience_list_names_an_existing_audience_in_a_rule(admin_client, site):  # noqa: F811
    vips = saved("VIPs", all_of=("custom.vip",))
    saved("Emails of VIPs", {"all": [{"audience": vips.pk}, {"has": "email"}]})
    listing = admin_client.get(reverse("admin:contacts_audience_changelist")).content.decode()
    assert "in audience “VIPs”" in listing
    assert f"#{vips.pk} (deleted)" not in listing
