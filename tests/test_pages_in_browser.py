"""Every main page, opened in Chromium, and the htmx swaps people make most on the labels and
contacts pages: no Content-Security-Policy violation, no script error in the console."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from sync.models import SyncRun
from sync.service import sync_wix
from tests.fixtures.users import make_user
from wixcache.models import Contact, Label

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Chromium says in the console when the policy blocks something; this says which directive and
# what, so that a failure names its cause.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP ${event.violatedDirective} blocked ${event.blockedURI} ${event.sample}`);
});
"""
# A script or a browser extension styling an element through the CSSOM is allowed by the
# policy, but leaves a `style` attribute that htmx's settling would copy with setAttribute:
# an inline style the policy refuses. The swapped regions get one, as they would in real use.
STYLE_THROUGH_CSSOM = """
(selectors) => selectors.forEach((selector) => {
  document.querySelectorAll(selector).forEach((element) => {
    element.style.outlineOffset = "0px";
  });
})
"""


@pytest.fixture
def site_with_data(sandbox, sync_client):
    sandbox.reset(contacts=120, labels=12, seed=5)
    return sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)


@pytest.fixture
def console_problems(page) -> list[str]:
    problems: list[str] = []
    page.context.add_init_script(REPORT_VIOLATIONS)
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


@pytest.fixture
def boss(transactional_db):
    return make_user("boss", superuser=True)


def test_main_pages_load_without_policy_violations_or_script_errors(
    page, login, site_with_data, wix_settings, console_problems, boss
):
    login(boss)
    contact = Contact.objects.first()
    urls = [
        reverse("admin:index"),
        reverse("admin:labels_label_changelist"),
        reverse("admin:contacts_contact_changelist"),
        reverse("admin:contacts_contact_change", args=[contact.pk]),
        reverse("admin:contacts_contact_from_list"),
        reverse("admin:contacts_audience_changelist"),
        reverse("admin:journal_operation_changelist"),
        reverse("admin:sync_syncrun_changelist"),
        reverse("admin:sync_syncrun_change", args=[site_with_data.pk]),
        reverse("admin:labels_labeljob_changelist"),
    ]
    for url in urls:
        response = page.goto(url)
        assert response.status == 200, url
        page.wait_for_load_state("networkidle")
    assert console_problems == []


def settled(page) -> None:
    """Wait until htmx has swapped and settled everything it was asked for."""
    expect(page.locator(".htmx-request")).to_have_count(0)
    expect(page.locator(".htmx-settling")).to_have_count(0)
    page.wait_for_load_state("networkidle")


def test_htmx_swaps_on_the_labels_page_raise_no_policy_violation(
    page, login, site_with_data, wix_settings, console_problems, boss
):
    label = Label.objects.filter(label_type="USER_DEFINED").order_by("display_name").first()
    row = f"#label-row-{label.pk}"
    login(boss)
    page.goto(reverse("admin:labels_label_changelist"))
    page.evaluate(STYLE_THROUGH_CSSOM, ["#label-table", row])

    page.get_by_label("Search labels").fill(label.display_name)
    expect(page.locator("#label-table tbody tr")).not_to_have_count(len(Label.objects.all()))
    settled(page)
    page.evaluate(STYLE_THROUGH_CSSOM, ["#label-table", row])

    page.locator(row).get_by_role("button", name=f"Rename “{label.display_name}”").click()
    box = page.get_by_label(f"New name for “{label.display_name}”")
    expect(box).to_be_focused()
    settled(page)
    page.evaluate(STYLE_THROUGH_CSSOM, [row])
    box.press("Escape")  # the row editor closes: the row is swapped back
    rename = page.locator(row).get_by_role("button", name=f"Rename “{label.display_name}”")
    expect(rename).to_be_visible()
    settled(page)

    assert console_problems == []


def pick(page, picker: str, label: Label) -> None:
    """Type in a label picker and click the suggestion (templates/admin/contacts/label_picker)."""
    page.locator(f"#picker-{picker}").fill(label.display_name)
    page.locator(f"#picker-{picker}-list").get_by_role("option").filter(
        has=page.get_by_text(label.display_name, exact=True)
    ).click()


def test_htmx_swaps_on_the_contacts_pages_raise_no_policy_violation(
    page, login, site_with_data, wix_settings, console_problems, boss
):
    label = Label.objects.filter(label_type="USER_DEFINED").order_by("display_name").first()
    login(boss)
    page.goto(reverse("admin:contacts_contact_changelist"))
    page.evaluate(STYLE_THROUGH_CSSOM, ["#results", "#chips-all", "#picker-all-list"])

    pick(page, "all", label)
    expect(page.locator("#chips-all")).to_contain_text(label.display_name)
    settled(page)
    page.evaluate(STYLE_THROUGH_CSSOM, ["#results"])

    page.locator("#id_q").fill("a")
    expect(page).to_have_url(re.compile(r"q=a"))
    settled(page)

    contact = Contact.objects.exclude(labels=label).first()
    page.goto(reverse("admin:contacts_contact_change", args=[contact.pk]))
    page.evaluate(STYLE_THROUGH_CSSOM, ["#contact-labels", "#picker-contact-list"])
    pick(page, "contact", label)
    expect(page.locator("#contact-labels .chips")).to_contain_text(label.display_name)
    settled(page)

    assert console_problems == []
