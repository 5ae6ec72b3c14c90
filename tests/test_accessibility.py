"""Every page through axe-core (the axe-playwright-python package ships it) in Chromium, as a
superuser and as a Marketing member, with demo-like data: no serious or critical violation.

A failure names the page, the rule, its impact, axe's help text and the elements at fault."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from contacts.models import Audience
from contacts.views import audience_url
from journal.models import Operation
from labels.models import LabelJob
from labelsite import errors
from sync.models import SyncRun
from tests.fixtures.users import make_user
from wixcache.models import Contact, Label

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BLOCKING = ("serious", "critical")
AXE = Axe()


@dataclass
class World:
    """What the pages show: the synced sandbox's labels and contacts, and one of each record."""

    label: Label
    other_label: Label
    contact: Contact
    audience: Audience
    run: SyncRun
    job: LabelJob


@pytest.fixture
def world(synced, roles) -> World:
    synced(contacts=60, labels=8, seed=7)
    boss = make_user("boss", superuser=True)
    label, other = Label.objects.filter(label_type=Label.Type.USER_DEFINED).order_by("pk")[:2]
    audience = Audience.objects.create(
        name="Spring VIPs",
        description="Everyone labelled for the spring campaign",
        rules={"all_of": [label.key], "none_of": [other.key]},
        created_by=boss,
    )
    Operation.objects.create(
        kind=Operation.Kind.LABEL_CREATE,
        state=Operation.State.DONE,
        user=boss,
        summary=f"Created label “{label.display_name}”.",
        finished_at=timezone.now(),
    )
    job = LabelJob.objects.create(
        kind=LabelJob.Kind.APPLY,
        status=LabelJob.Status.SUCCEEDED,
        description=f"Add “{label.display_name}” to 3 contacts",
        requested_by=boss,
        add_keys=[label.key],
        total=3,
        done=3,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    return World(
        label=label,
        other_label=other,
        contact=Contact.objects.order_by("pk").first(),
        audience=audience,
        run=SyncRun.objects.get(),
        job=job,
    )


def open_row_editor(page: Page, world: World) -> None:
    page.goto(reverse("admin:labels_label_changelist"))
    row = page.locator(f"#label-row-{world.label.pk}")
    row.get_by_role("button", name=f"Rename “{world.label.display_name}”").click()
    expect(page.get_by_label(f"New name for “{world.label.display_name}”")).to_be_focused()


def open_merge_panel(page: Page, world: World) -> None:
    page.goto(reverse("admin:labels_label_changelist"))
    for label in (world.label, world.other_label):
        page.locator(f"#label-row-{label.pk}").get_by_role("checkbox").check()
    page.get_by_role("button", name="Merge ticked labels…").click()
    merge = page.locator("#label-merge")
    merge.get_by_role("radio", name=f"“{world.label.display_name}”").check()
    expect(merge.locator(".merge-preview")).to_contain_text(world.label.display_name)


def open_list_preview(page: Page, world: World) -> None:
    """Label from a list, read and previewed for a label: both steps on screen."""
    page.goto(reverse("admin:contacts_contact_from_list") + f"?label={world.label.key}")
    emails = Contact.objects.exclude(email="").values_list("email", flat=True)[:5]
    page.get_by_label("Paste email addresses or Wix contact ids").fill(
        "\n".join([*emails, "nobody@example.invalid"])
    )
    page.get_by_role("button", name="Read the list").click()
    expect(page.locator("#list-change .preview")).to_be_visible()


def open_server_error_page(page: Page, world: World) -> None:
    """The 500 page as labelsite.errors renders it, served at an address of the live server
    (so that its stylesheets load as they would)."""
    html = errors.server_error(RequestFactory().get("/")).content.decode()
    page.route("**/admin/broken/", lambda route: route.fulfill(status=500, body=html))
    page.goto("/admin/broken/")
    expect(page.get_by_role("heading", name=errors.TITLES[500])).to_be_visible()
    expect(page.locator("#header")).to_be_visible()


def goto(url: Callable[[World], str]) -> Callable[[Page, World], None]:
    return lambda page, world: page.goto(url(world))


# name -> (how to get there, who sees it: "both" roles or only the "superuser")
PAGES: dict[str, tuple[Callable[[Page, World], None], str]] = {
    "start page": (goto(lambda w: reverse("admin:index")), "both"),
    "labels": (goto(lambda w: reverse("admin:labels_label_changelist")), "both"),
    "label row editor": (open_row_editor, "superuser"),
    "merge panel": (open_merge_panel, "superuser"),
    "contacts with an audience": (goto(lambda w: audience_url(w.audience)), "both"),
    "contact": (
        goto(lambda w: reverse("admin:contacts_contact_change", args=[w.contact.pk])),
        "both",
    ),
    "label from a list": (open_list_preview, "both"),
    "how labels overlap": (goto(lambda w: reverse("admin:labels_label_overlap")), "both"),
    "audiences": (goto(lambda w: reverse("admin:contacts_audience_changelist")), "both"),
    "history": (goto(lambda w: reverse("admin:journal_operation_changelist")), "both"),
    "sync runs": (goto(lambda w: reverse("admin:sync_syncrun_changelist")), "both"),
    "sync run": (
        goto(lambda w: reverse("admin:sync_syncrun_change", args=[w.run.pk])),
        "both",
    ),
    "label jobs": (goto(lambda w: reverse("admin:labels_labeljob_changelist")), "both"),
    "label job": (
        goto(lambda w: reverse("admin:labels_labeljob_change", args=[w.job.pk])),
        "both",
    ),
    "403 page": (goto(lambda w: reverse("admin:contacts_contact_add")), "both"),
    "404 page": (goto(lambda w: "/admin/no-such-page/"), "both"),
    "500 page": (open_server_error_page, "superuser"),
}


def blocking_violations(page: Page) -> list[str]:
    page.wait_for_load_state("networkidle")
    results = AXE.run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']}\n"
        + "\n".join(f"    {node['target']} {node['html'][:160]}" for node in violation["nodes"])
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING
    ]


def violations_per_page(page: Page, world: World, role: str) -> dict[str, list[str]]:
    found = {}
    for name, (visit, who) in PAGES.items():
        if who == "both" or who == role:
            visit(page, world)
            if violations := blocking_violations(page):
                found[f"{name} ({page.url})"] = violations
    return found


def report(found: dict[str, list[str]]) -> str:
    return "\n".join(f"{page}:\n  " + "\n  ".join(rules) for page, rules in found.items())


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_as_a_superuser(page, login, world, scheme):
    from django.contrib.auth.models import User

    page.emulate_media(color_scheme=scheme)
    login(User.objects.get(username="boss"))
    found = violations_per_page(page, world, "superuser")
    assert found == {}, report(found)


def test_every_page_as_a_marketing_member(page, login, world, marketer):
    login(marketer)
    found = violations_per_page(page, world, "marketer")
    assert found == {}, report(found)


def test_the_login_page(page, live_server):
    page.goto(reverse("admin:login"))
    violations = blocking_violations(page)
    assert violations == [], "login page:\n" + "\n".join(violations)
