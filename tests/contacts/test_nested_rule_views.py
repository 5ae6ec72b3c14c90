"""Nested rules as people meet them: the document, the builder's edits, the rule in the URL and
in words, saving it, and what bad input gets back."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from contacts import rules as nested
from contacts.models import Audience
from contacts.segments import SegmentRules, rules_in_words
from contacts.selectors import contact_count_for_segment
from tests.fixtures.users import HTMX, make_user
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db
PAGE = reverse("admin:contacts_contact_changelist")
RULE = reverse("admin:contacts_contact_rule")
SAVE = reverse("admin:contacts_contact_save")

NAMES = {"custom.vip": "VIP", "custom.news": "Newsletter", "custom.lead": "Lead"}
NAMES |= {"custom.trial": "Trial", "custom.customer": "Customer"}
EXAMPLE = {
    "v": 1,
    "any": [
        {"all": [{"label": "custom.vip"}, {"label": "custom.news"}]},
        {
            "all": [
                {"any": [{"label": "custom.lead"}, {"label": "custom.trial"}]},
                {"none": [{"label": "custom.customer"}]},
            ]
        },
    ],
}


def text(document: dict) -> str:
    return json.dumps(document, separators=(",", ":"))


# --- the document -------------------------------------------------------------------------


def test_a_rule_reads_back_as_the_same_document_and_as_a_sentence():
    tree = nested.parse(text(EXAMPLE))
    assert tree.document() == EXAMPLE
    assert nested.parse(tree.text()) == tree
    assert nested.in_words(tree, NAMES, {}) == (
        "(VIP and Newsletter) or ((Lead or Trial) and not Customer)"
    )


def test_fields_and_audiences_read_as_words():
    tree = nested.from_document(
        {
            "all": [
                {"created": {"days": 30}},
                {"created": {"from": "2026-01-01", "to": "2026-03-31"}},
                {"created": {"to": "2025-12-31"}},
                {"has": "email"},
                {"none": [{"has": "phone"}, {"audience": 7}]},
                {"audience": 8},
                {"label": "custom.gone"},
            ]
        }
    )
    assert nested.in_words(tree, {}, {7: "Spring buyers"}) == (
        "created in the last 30 days and created 2026-01-01 to 2026-03-31 and created up to "
        "2025-12-31 and has an email address and not (has a phone number or in audience "
        "“Spring buyers”) and in audience #8 (deleted) and custom.gone (deleted)"
    )


def test_conditions_not_filled_in_are_left_out_and_said_nowhere():
    tree = nested.from_document(
        {"all": [{"label": "custom.vip"}, {"label": ""}, {"any": [{"audience": None}]}]}
    )
    assert nested.pruned(tree) == nested.Group("all", (nested.Condition("label", "custom.vip"),))
    assert nested.in_words(tree, NAMES, {}) == "VIP"
    assert nested.pruned(nested.from_document({"all": [{"label": ""}]})) is None


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{not json", "not readable"),
        ('{"v": 2, "all": []}', r"newer labelsite \(version 2\)"),
        ('{"all": [{"colour": "red"}]}', "does not know: “colour”"),
        ('{"all": [{"label": 5}]}', "not a label key"),
        ('{"all": [{"has": "fax"}]}', "an email or a phone"),
        ('{"all": [{"created": {"days": 0}}]}', "1 to 36,600 days"),
        ('{"all": [{"created": {"from": "2026-02-30"}}]}', "not a date"),
        ('{"all": [{"created": {"from": "2026-03-01", "to": "2026-01-01"}}]}', "wrong way round"),
        ('{"all": [{"audience": "x"}]}', "not one"),
        ('{"all": {"label": "a"}}', "no list of conditions"),
        ('{"all": [], "any": []}', "not a group or a condition"),
        (text({"all": [{"any": [{"all": [{"any": [{"all": [{"any": []}]}]}]}]}]}), "5 deep"),
        (text({"all": [{"label": f"custom.l{i}"} for i in range(70)]}), "at most 60"),
        ("[" * 7000, "too long"),
    ],
)
def test_a_rule_that_cannot_be_read_says_why(rule, message):
    with pytest.raises(nested.RuleProblem, match=message):
        nested.parse(rule)


# --- editing --------------------------------------------------------------------------------


def test_the_builder_edits_build_the_example_and_say_where_the_focus_goes():
    tree, focus = nested.edit(None, "op", "", "any")
    tree, focus = nested.edit(tree, "group", "")
    assert focus == "0.0"  # the new group's first condition
    tree, _ = nested.edit(tree, "op", "0", "all")
    tree, _ = nested.edit(tree, "label", "0.0", "custom.vip")
    tree, focus = nested.edit(tree, "add", "0")
    assert focus == "0.1"
    tree, _ = nested.edit(tree, "label", "0.1", "custom.news")
    tree, _ = nested.edit(tree, "group", "")
    tree, _ = nested.edit(tree, "op", "1", "all")
    tree, _ = nested.edit(tree, "group", "1")
    tree, _ = nested.edit(tree, "label", "1.1.0", "custom.lead")
    tree, _ = nested.edit(tree, "add", "1.1")
    tree, _ = nested.edit(tree, "label", "1.1.1", "custom.trial")
    tree, _ = nested.edit(tree, "group", "1")
    tree, _ = nested.edit(tree, "op", "1.2", "none")
    tree, _ = nested.edit(tree, "label", "1.2.0", "custom.customer")
    tree, focus = nested.edit(tree, "remove", "1.0")  # the empty first condition of group 2
    assert focus == "1"
    assert tree.document() == EXAMPLE


def test_a_condition_changes_kind_and_keeps_its_values_checked():
    tree, _ = nested.edit(None, "add", "")
    tree, _ = nested.edit(tree, "kind", "0", "dates")
    tree, _ = nested.edit(tree, "from", "0", "2026-01-01")
    with pytest.raises(nested.RuleProblem, match="wrong way round"):
        nested.edit(tree, "to", "0", "2025-01-01")
    with pytest.raises(nested.RuleProblem, match="is not a date"):
        nested.edit(tree, "to", "0", "31/12/2026")
    tree, _ = nested.edit(tree, "kind", "0", "days")
    with pytest.raises(nested.RuleProblem, match="from 1 to 36,600"):
        nested.edit(tree, "days", "0", "-3")
    tree, _ = nested.edit(tree, "days", "0", "14")
    assert tree.document() == {"v": 1, "all": [{"created": {"days": 14}}]}


@pytest.mark.parametrize(
    ("action", "at", "value"),
    [
        ("label", "3", "x"),
        ("add", "0", ""),
        ("op", "0", "all"),
        ("remove", "0.0.1", ""),
        ("kind", "0", "colour"),
        ("label", "a.b", "x"),
        ("op", "", "some"),
    ],
)
def test_an_edit_of_a_part_the_rule_does_not_have_is_a_stale_page(action, at, value):
    tree, _ = nested.edit(None, "add", "")
    with pytest.raises(nested.RuleProblem, match="changed since this page showed it"):
        nested.edit(tree, action, at, value)


def test_groups_stop_at_the_deepest_allowed():
    tree, at = None, ""
    for _ in range(nested.MAX_DEPTH - 1):
        tree, focus = nested.edit(tree, "group", at)
        at = focus.rpartition(".")[0]
    with pytest.raises(nested.RuleProblem, match="5 deep"):
        nested.edit(tree, "group", at)


# --- on the contacts page -----------------------------------------------------------------


@pytest.fixture
def site():
    labels = {
        key: Label.objects.create(key=key, display_name=name, namespace="custom")
        for key, name in NAMES.items()
    }
    start = datetime(2026, 1, 1, tzinfo=UTC)
    people = Contact.objects.bulk_create(
        Contact(
            wix_id=f"p{i}",
            first_name=f"P{i}",
            email=f"p{i}@example.com" if i % 2 else "",
            remote_created_at=start + timedelta(days=i),
            remote_updated_at=start,
        )
        for i in range(8)
    )
    holds = {0: ["custom.vip", "custom.news"], 1: ["custom.vip"], 2: ["custom.lead"]}
    holds |= {3: ["custom.trial", "custom.customer"], 4: ["custom.trial"], 5: ["custom.news"]}
    ContactLabel.objects.bulk_create(
        ContactLabel(contact=people[i], label=labels[key])
        for i, keys in holds.items()
        for key in keys
    )
    return people


def wix_ids(response) -> list[str]:
    return sorted(c.wix_id for c in response.context["page"].contacts)


def test_the_rule_in_the_url_filters_the_page_and_is_kept_in_its_links(admin_client, site):
    response = admin_client.get(PAGE, {"rule": text(EXAMPLE)})
    assert response.status_code == 200
    assert wix_ids(response) == ["p0", "p2", "p4"]
    assert response.context["count"] == 3
    content = response.content.decode()
    assert "Reads: (VIP and Newsletter) or ((Lead or Trial) and not Customer)" in content
    assert 'value="{&quot;v&quot;:1,&quot;any&quot;' in content  # the hidden rule field
    # A page turn, a sort and the export carry the rule.
    assert "rule=%7B%22v%22%3A1" in response.context["first_url"]
    assert "rule=" in response.context["export_querystring"]
    partial = admin_client.get(PAGE, {"rule": text(EXAMPLE), "any": "custom.news"}, headers=HTMX)
    assert wix_ids(partial) == ["p0"]
    assert "rule=" in partial["HX-Push-Url"]


def test_created_dates_and_email_conditions_on_the_page(admin_client, site):
    rule = {"all": [{"created": {"from": "2026-01-02", "to": "2026-01-04"}}, {"has": "email"}]}
    response = admin_client.get(PAGE, {"rule": text(rule)})
    assert wix_ids(response) == ["p1", "p3"]  # created on the 2nd to the 4th, with an email
    rule = {"none": [{"created": {"to": date(2026, 1, 6).isoformat()}}]}
    assert wix_ids(admin_client.get(PAGE, {"rule": text(rule)})) == ["p6", "p7"]


def test_a_rule_that_cannot_be_read_gets_a_plain_message_not_an_error_page(admin_client, site):
    response = admin_client.get(PAGE, {"rule": '{"all": [{"colour": "red"}]}'})
    assert response.status_code == 200
    content = response.content.decode()
    assert "These rules could not be read" in content
    assert "labelsite does not know: “colour”" in content
    assert "Traceback" not in content


def test_markup_in_a_label_key_of_the_rule_is_escaped(admin_client, site):
    rule = {"all": [{"label": "<script>alert(1)</script>"}]}
    content = admin_client.get(PAGE, {"rule": text(rule)}).content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt; (deleted)" in content


def test_an_edit_answers_the_builder_and_tells_the_results_to_follow(admin_client, site):
    response = admin_client.get(RULE, {"rule": "", "do": "add", "at": ""}, headers=HTMX)
    assert response.status_code == 200
    assert "HX-Trigger-After-Settle" not in response  # an empty condition matches the same
    assert 'id="rule-0-label"' in response.content.decode()
    assert " autofocus" in response.content.decode()
    rule = response.context["rule_text"]
    response = admin_client.get(
        RULE, {"rule": rule, "do": "label", "at": "0", "value": "custom.vip"}, headers=HTMX
    )
    assert json.loads(response["HX-Trigger-After-Settle"]) == {"segmentChanged": {}}
    assert json.loads(response.context["rule_text"]) == {"v": 1, "all": [{"label": "custom.vip"}]}
    assert "Reads: VIP" in response.content.decode()


def test_a_stale_edit_keeps_the_rule_and_says_so(admin_client, site):
    rule = text({"v": 1, "all": [{"label": "custom.vip"}]})
    response = admin_client.get(RULE, {"rule": rule, "do": "remove", "at": "4"}, headers=HTMX)
    assert response.status_code == 200
    assert "changed since this page showed it" in response.content.decode()
    assert response.context["rule_text"] == rule
    assert "HX-Trigger-After-Settle" not in response
    bad = admin_client.get(RULE, {"rule": "{", "do": "add"}, headers=HTMX)
    assert bad.status_code == 400
    assert "not readable" in bad.content.decode()


def test_the_builder_offers_saved_audiences_only_to_those_who_may_read_them(client, site):
    Audience.objects.create(name="Spring <b>buyers</b>", rules={})
    rule = text({"v": 1, "all": [{"audience": None}]})
    viewer = make_user("viewer", "contacts.view_contact")
    client.force_login(viewer)
    response = client.get(
        RULE, {"rule": rule, "do": "kind", "at": "0", "value": "audience"}, headers=HTMX
    )
    assert response.context["rule_audiences"] == []
    assert "is in the saved audience" not in response.content.decode()
    reader = make_user("reader", "contacts.view_contact", "contacts.view_audience")
    client.force_login(reader)
    response = client.get(
        RULE, {"rule": rule, "do": "kind", "at": "0", "value": "audience"}, headers=HTMX
    )
    assert "Spring &lt;b&gt;buyers&lt;/b&gt;" in response.content.decode()


def test_the_builder_does_not_offer_the_audience_being_edited(admin_client, site):
    spring = Audience.objects.create(name="Spring", rules={})
    autumn = Audience.objects.create(name="Autumn", rules={})
    rule = text({"v": 1, "all": [{"audience": None}]})
    change = {"rule": rule, "do": "kind", "at": "0", "value": "audience"}
    offered = admin_client.get(RULE, change, headers=HTMX).context["rule_audiences"]
    assert offered == [(autumn.pk, "Autumn"), (spring.pk, "Spring")]
    editing = admin_client.get(RULE, {**change, "audience": spring.pk}, headers=HTMX)
    assert editing.context["rule_audiences"] == [(autumn.pk, "Autumn")]
    spring.rules = SegmentRules(tree=nested.from_document({"all": [{"has": "email"}]})).as_json()
    spring.save()
    page = admin_client.get(
        PAGE, {"audience": spring.pk, "rule": text({"all": [{"has": "email"}]})}
    )
    assert page.context["rule_audiences"] == [(autumn.pk, "Autumn")]
    assert '#segment-form [name=audience]"' in page.content.decode()  # sent with every change


def test_the_rule_endpoint_needs_contact_view_permission(client, site):
    client.force_login(make_user("nobody"))
    assert client.get(RULE, {"do": "add"}, headers=HTMX).status_code == 403
    client.logout()
    assert client.get(RULE, {"do": "add"}, headers=HTMX).status_code == 302


def test_a_saved_audience_keeps_its_rule_and_counts_it(admin_client, site):
    response = admin_client.post(
        SAVE, {"name": "Spring campaign", "rule": text(EXAMPLE)}, headers=HTMX
    )
    assert response.status_code == 200
    audience = Audience.objects.get(name="Spring campaign")
    assert audience.rules["tree"] == EXAMPLE
    rules = SegmentRules.from_json(audience.rules)
    assert contact_count_for_segment(rules=rules) == 3
    assert rules_in_words(rules, NAMES) == (
        "(VIP and Newsletter) or ((Lead or Trial) and not Customer)"
    )
    # The saved audiences list says it in words.
    listing = admin_client.get(reverse("admin:contacts_audience_changelist")).content.decode()
    assert "(VIP and Newsletter) or ((Lead or Trial) and not Customer)" in listing


def test_an_audience_can_name_another_and_its_count_follows(admin_client, site):
    vips = Audience.objects.create(
        name="VIPs", rules=SegmentRules(all_of=("custom.vip",)).as_json()
    )
    rule = {"all": [{"audience": vips.pk}, {"has": "email"}]}
    response = admin_client.get(PAGE, {"rule": text(rule)})
    assert wix_ids(response) == ["p1"]
    assert "Reads: in audience “VIPs” and has an email address" in response.content.decode()
    # Changing the named audience changes this one: its count is not kept under the version.
    vips.rules = SegmentRules(any_of=("custom.vip", "custom.trial")).as_json()
    vips.save()
    assert admin_client.get(PAGE, {"rule": text(rule)}).context["count"] == 2  # p1 and p3


def test_an_audience_that_would_include_itself_is_refused(admin_client, site):
    a = Audience.objects.create(name="A", rules=SegmentRules(all_of=("custom.vip",)).as_json())
    b = Audience.objects.create(
        name="B",
        rules=SegmentRules(tree=nested.from_document({"all": [{"audience": a.pk}]})).as_json(),
    )
    itself = {"audience": str(a.pk), "name": "A", "rule": text({"all": [{"audience": a.pk}]})}
    response = admin_client.post(SAVE, itself, headers=HTMX)
    assert (
        "An audience cannot include itself: these rules name “A”. Take" in response.content.decode()
    )
    through = {"audience": str(a.pk), "name": "A", "rule": text({"any": [{"audience": b.pk}]})}
    response = admin_client.post(SAVE, through, headers=HTMX)
    assert "these rules name “A” through “B”." in response.content.decode()
    a.refresh_from_db()
    assert "tree" not in a.rules  # nothing was saved
    # Saved anyway (two people at once, or by hand): the loop matches nobody, and ends.
    a.rules = SegmentRules(tree=nested.from_document({"any": [{"audience": b.pk}]})).as_json()
    a.save()
    response = admin_client.get(PAGE, {"rule": text({"all": [{"audience": a.pk}]})})
    assert response.context["count"] == 0


def test_a_saved_rule_that_cannot_be_read_matches_nobody(site):
    rules = SegmentRules.from_json({"tree": {"all": [{"colour": "red"}]}})
    assert contact_count_for_segment(rules=rules) == 0


def test_a_bulk_change_of_everyone_matching_takes_the_nested_rule(admin_client, site):
    response = admin_client.post(
        reverse("admin:contacts_contact_bulk_preview"),
        {"selection": "all", "add": "custom.news", "rule": text(EXAMPLE)},
        headers=HTMX,
    )
    assert response.context["matching"] == 3  # p0, p2, p4
    assert response.context["changing"] == 2  # p0 has Newsletter already


def test_a_value_change_answers_only_the_rule_its_sentence_and_errors(admin_client, site):
    rule = text({"v": 1, "all": [{"created": {}}, {"without": "custom.vip"}]})
    response = admin_client.get(
        RULE, {"rule": rule, "do": "from", "at": "0", "value": " 2026-01-03 "}, headers=HTMX
    )
    content = response.content.decode()
    assert "<input" in content  # the hidden rule, out of band
    assert 'hx-swap-oob="true"' in content
    assert 'id="rule-0-from"' not in content  # the field typed in is left alone
    assert "Reads: created from 2026-01-03 and not VIP" in content
    wrong = admin_client.get(
        RULE, {"rule": rule, "do": "to", "at": "0", "value": "31/12/2026"}, headers=HTMX
    )
    assert "Condition 1: “31/12/2026” is not a date" in wrong.content.decode()
    assert wrong.context["rule_text"] == rule  # nothing changed
    document = {"v": 1, "all": [{"created": {"from": "2026-01-03"}}, {"without": "custom.vip"}]}
    assert json.loads(response.context["rule_text"]) == document
    page = admin_client.get(PAGE, {"rule": text(document)})
    assert wix_ids(page) == ["p2", "p3", "p4", "p5", "p6", "p7"]  # p0, p1 hold VIP
