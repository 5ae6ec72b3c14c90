"""Every URL pattern of the project, requested by every role with GET and POST.

The patterns come from walking the URL resolver (admin ModelAdmins' own `get_urls` included), so
an endpoint added without a row in `EXPECTED` fails `test_every_pattern_has_an_expectation`.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.fixtures.users import HTMX
from tests.hardening.conftest import ROLES, World
from wixcache.models import Label

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
CHANGELIST = reverse("admin:labels_label_changelist")
CREATE = reverse("admin:labels_label_create")


def project_patterns() -> list[tuple[str, object]]:
    """Every pattern as (full route text, view), e.g. 'admin/labels/label/<str:key>/row/'."""
    routes: list[tuple[str, object]] = []

    def walk(resolver: URLResolver, prefix: str) -> None:
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern, prefix + str(pattern.pattern))
            else:
                assert isinstance(pattern, URLPattern)
                routes.append((prefix + str(pattern.pattern), pattern.callback))

    walk(get_resolver(), "")
    return routes


def project_routes() -> list[str]:
    return [route for route, _view in project_patterns()]


# --- Expectations -----------------------------------------------------------------------------
# Statuses for the roles in ROLES order: anonymous, staff without permissions, Marketing,
# Label managers, superuser. "L" is a redirect to the admin login page.


def row(get: str, post: str) -> dict[str, tuple[str, ...]]:
    return {"GET": tuple(get.split()), "POST": tuple(post.split())}


ANY_STAFF = row("L 200 200 200 200", "L 200 200 200 200")
SUPERUSER_ONLY = row("L 403 403 403 200", "L 403 403 403 200")
CLOSED = row("L 403 403 403 403", "L 403 403 403 403")  # read-only caches: no add/delete pages
TO_CHANGE_PAGE = row("L 302 302 302 302", "L 302 302 302 302")  # the admin's old-style link
VIEWERS = row("L 403 200 200 200", "L 403 200 200 200")  # history pages of viewable models
READ_ONLY = row("L 403 200 200 200", "L 403 403 403 403")  # change pages shown read-only
GET_VIEW = "L 403 200 200 200"  # needs a view permission Marketing has
NO_GET = "L 405 405 405 405"
NO_POST = "L 405 405 405 405"
WITH_LABEL_CHANGE = "L 403 403 200 200"  # needs change/delete_label: Label managers
# A labels-page row's form sent without htmx (the matrix sends none): managers are taken back to
# the labels page, the outcome in a message.
ROW_FORM = "L 403 403 302 302"

EXPECTED: dict[str, dict[str, tuple[str, ...]]] = {
    "": row("302 302 302 302 302", "302 302 302 302 302"),
    "wix/webhooks/": row("405 405 405 405 405", "401 401 401 401 401"),
    # --- the admin site itself
    "admin/": ANY_STAFF,
    "admin/login/": row("200 302 302 302 302", "200 200 200 200 200"),
    "admin/logout/": row("302 405 405 405 405", "302 200 200 200 200"),
    "admin/password_change/": ANY_STAFF,
    "admin/password_change/done/": row("L 200 200 200 200", "L 405 405 405 405"),
    "admin/autocomplete/": row("L 403 403 403 403", NO_POST),  # no autocomplete fields
    "admin/jsi18n/": row("L 200 200 200 200", NO_POST),
    "admin/r/<path:content_type_id>/<path:object_id>/": row(
        "L 404 404 404 404", "L 404 404 404 404"
    ),
    "admin/^(?P<app_label>auth|django_tasks_database|journal|labels|contacts|sync)/$": row(
        "L 404 200 200 200", "L 404 200 200 200"
    ),
    "admin/(?P<url>.*)$": row("L 404 404 404 404", "L 404 404 404 404"),
    # --- labels
    "admin/labels/label/": row(GET_VIEW, NO_POST),
    "admin/labels/label/add/": TO_CHANGE_PAGE,  # closed: the labels page creates in Wix
    # GET: the empty form (Cancel on the near-duplicate warning); without htmx, the labels page
    "admin/labels/label/new/": row("L 403 302 302 302", "L 403 200 200 200"),
    "admin/labels/label/merge/": row(WITH_LABEL_CHANGE, NO_POST),
    "admin/labels/label/merge/run/": row(NO_GET, WITH_LABEL_CHANGE),
    "admin/labels/label/deletions/": row(GET_VIEW, NO_POST),
    "admin/labels/label/overlap/": row(GET_VIEW, NO_POST),
    "admin/labels/label/deletions/<int:deletion_id>/undo/": row(NO_GET, ROW_FORM),
    "admin/labels/label/label/<str:key>/": row(GET_VIEW, NO_POST),  # a label's page
    "admin/labels/label/<str:key>/row/": row(GET_VIEW, NO_POST),
    "admin/labels/label/<str:key>/edit/": row(WITH_LABEL_CHANGE, NO_POST),
    "admin/labels/label/<str:key>/rename/": row(NO_GET, ROW_FORM),
    "admin/labels/label/<str:key>/note/": row(NO_GET, ROW_FORM),  # the page again, a message
    "admin/labels/label/<str:key>/delete/confirm/": row(WITH_LABEL_CHANGE, NO_POST),
    "admin/labels/label/<str:key>/delete/": row(NO_GET, ROW_FORM),
    "admin/labels/label/<path:object_id>/history/": VIEWERS,
    # Shadowed by "<str:key>/delete/": a pk is no label's key, so managers get the "gone" notice
    # (on the labels page, as the matrix posts without htmx).
    "admin/labels/label/<path:object_id>/delete/": row(NO_GET, ROW_FORM),
    "admin/labels/label/<path:object_id>/change/": READ_ONLY,
    "admin/labels/label/<path:object_id>/": TO_CHANGE_PAGE,
    # --- label jobs
    "admin/labels/labeljob/": VIEWERS,
    "admin/labels/labeljob/<int:job_id>/progress/": row(GET_VIEW, NO_POST),
    # the job's requester (here the superuser) or a label manager
    "admin/labels/labeljob/<int:job_id>/retry/": row(NO_GET, WITH_LABEL_CHANGE),
    "admin/labels/labeljob/<int:job_id>/look-again/": row(NO_GET, WITH_LABEL_CHANGE),
    # undo someone else's change: a label manager (the world's job is the superuser's)
    "admin/labels/labeljob/<int:job_id>/undo/": row(NO_GET, WITH_LABEL_CHANGE),
    "admin/labels/labeljob/add/": CLOSED,
    "admin/labels/labeljob/<path:object_id>/history/": VIEWERS,
    "admin/labels/labeljob/<path:object_id>/delete/": CLOSED,
    "admin/labels/labeljob/<path:object_id>/change/": READ_ONLY,
    "admin/labels/labeljob/<path:object_id>/": TO_CHANGE_PAGE,
    # --- sync runs
    "admin/sync/syncrun/": VIEWERS,
    "admin/sync/syncrun/sync-now/": row(NO_GET, "L 403 403 302 302"),
    "admin/sync/syncrun/<int:run_id>/progress/": row(GET_VIEW, NO_POST),
    "admin/sync/syncrun/add/": CLOSED,
    "admin/sync/syncrun/<path:object_id>/history/": VIEWERS,
    "admin/sync/syncrun/<path:object_id>/delete/": CLOSED,
    "admin/sync/syncrun/<path:object_id>/change/": READ_ONLY,
    "admin/sync/syncrun/<path:object_id>/": TO_CHANGE_PAGE,
    # --- contacts and the audience builder
    "admin/contacts/contact/": row(GET_VIEW, NO_POST),
    "admin/contacts/contact/labels/suggest/": row(GET_VIEW, NO_POST),
    "admin/contacts/contact/labels/chip/": row("L 403 404 404 404", NO_POST),  # no key given
    "admin/contacts/contact/labels/unchip/": row(GET_VIEW, NO_POST),
    "admin/contacts/contact/rule/": row("L 403 400 400 400", NO_POST),  # no change named
    "admin/contacts/contact/bulk/preview/": row(NO_GET, "L 403 200 200 200"),
    "admin/contacts/contact/bulk/start/": row(NO_GET, "L 403 200 200 200"),
    "admin/contacts/contact/export/": row(GET_VIEW, NO_POST),
    "admin/contacts/contact/audience/save/": row(NO_GET, "L 403 200 200 200"),
    # Label from a list: an empty POST is a form error. The world's list is the superuser's:
    # anyone else gets 404 for it.
    "admin/contacts/contact/from-list/": row(GET_VIEW, "L 403 400 400 400"),
    "admin/contacts/contact/from-list/<int:list_id>/": row("L 403 404 404 200", NO_POST),
    "admin/contacts/contact/from-list/<int:list_id>/apply/": row(NO_GET, "L 403 404 404 400"),
    "admin/contacts/contact/from-list/<int:list_id>/not-found.csv": row(
        "L 403 404 404 200", NO_POST
    ),
    "admin/contacts/contact/<int:contact_id>/labels/suggest/": row(GET_VIEW, NO_POST),
    "admin/contacts/contact/<int:contact_id>/labels/add/": row(NO_GET, "L 403 200 200 200"),
    "admin/contacts/contact/<int:contact_id>/labels/remove/": row(NO_GET, "L 403 200 200 200"),
    "admin/contacts/contact/<int:contact_id>/labels/undo/<int:operation_id>/": row(
        NO_GET, WITH_LABEL_CHANGE
    ),
    "admin/contacts/contact/add/": CLOSED,
    "admin/contacts/contact/<path:object_id>/history/": VIEWERS,
    "admin/contacts/contact/<path:object_id>/delete/": CLOSED,
    "admin/contacts/contact/<path:object_id>/change/": row(GET_VIEW, NO_POST),
    "admin/contacts/contact/<path:object_id>/": TO_CHANGE_PAGE,
    # --- saved audiences
    "admin/contacts/audience/": VIEWERS,
    "admin/contacts/audience/<int:audience_id>/duplicate/": row(NO_GET, "L 403 200 200 200"),
    "admin/contacts/audience/<int:audience_id>/sizes/": row(GET_VIEW, NO_POST),
    # The panel's address opened without htmx: the audience page it belongs to.
    "admin/contacts/audience/<int:audience_id>/living/": row("L 403 302 302 302", NO_POST),
    # A living label changes the audience's contacts for good: its owner's (Marketing does not
    # own the world's audience) or a label manager's.
    "admin/contacts/audience/<int:audience_id>/living/preview/": row(NO_GET, "L 403 403 200 200"),
    "admin/contacts/audience/<int:audience_id>/living/start/": row(NO_GET, "L 403 403 200 200"),
    "admin/contacts/audience/<int:audience_id>/living/stop/": row(NO_GET, "L 403 403 200 200"),
    "admin/contacts/audience/<int:audience_id>/living/confirm/": row(NO_GET, "L 403 403 200 200"),
    "admin/contacts/audience/<int:audience_id>/wix-label/preview/": row(
        NO_GET, "L 403 200 200 200"
    ),
    "admin/contacts/audience/<int:audience_id>/wix-label/start/": row(NO_GET, "L 403 200 200 200"),
    "admin/contacts/audience/add/": CLOSED,  # audiences are saved from the contacts page
    "admin/contacts/audience/<path:object_id>/history/": VIEWERS,
    # The world's audience is the superuser's: another person needs change_others_audience
    # (Label managers); Marketing sees it read-only. An empty POST only asks / gives form errors.
    "admin/contacts/audience/<path:object_id>/delete/": row(
        "L 403 403 200 200", "L 403 403 200 200"
    ),
    "admin/contacts/audience/<path:object_id>/change/": row(
        "L 403 200 200 200", "L 403 403 200 200"
    ),
    "admin/contacts/audience/<path:object_id>/": TO_CHANGE_PAGE,
    # --- the history (journal): only its own pages, no stock add/change/delete
    "admin/journal/operation/": row(GET_VIEW, NO_POST),
    "admin/journal/operation/export.csv": row("L 403 403 200 200", NO_POST),  # export_operation
    "admin/journal/operation/label/<str:key>/": row(GET_VIEW, NO_POST),
    "admin/journal/operation/contact/<str:wix_id>/": row(GET_VIEW, NO_POST),
    "admin/journal/operation/audience/<int:audience_id>/": row(GET_VIEW, NO_POST),
}
# Stock admin pages of users, groups and task results, by rule: the first matching regex wins.
TASKS = "admin/django_tasks_database/dbtaskresult/"
RULES: list[tuple[str, dict[str, tuple[str, ...]]]] = [
    (r"admin/(auth/\w+|django_tasks_database/dbtaskresult)/<path:object_id>/$", TO_CHANGE_PAGE),
    (r"admin/auth/", SUPERUSER_ONLY),
    (TASKS + r"(add|<path:object_id>/delete)/$", CLOSED),
    (TASKS + r"<path:object_id>/change/$", row("L 403 403 403 200", "L 403 403 403 403")),
    (TASKS + r"(<path:object_id>/history/)?$", SUPERUSER_ONLY),
]


def expectation(route: str) -> dict[str, tuple[str, ...]] | None:
    if route in EXPECTED:
        return EXPECTED[route]
    return next((rule for regex, rule in RULES if re.match(regex, route)), None)


# --- Concrete URLs ----------------------------------------------------------------------------


def concrete(route: str, world: World) -> str:
    """The route with every converter filled by a real object of `world`."""
    objects = {
        "auth/group": world.group.pk,
        "auth/user": world.users["staff"].pk,
        "django_tasks_database/dbtaskresult": world.task_id,
        "labels/labeljob": world.job.pk,
        "labels/label": world.label.pk,
        "sync/syncrun": world.run.pk,
        "contacts/contact": world.contact.pk,
        "contacts/audience": world.audience.pk,
    }
    special = {
        "admin/^(?P<app_label>auth|django_tasks_database|journal|labels|contacts|sync)/$": (
            "admin/labels/"
        ),
        "admin/(?P<url>.*)$": "admin/no-such-page/",
        "admin/r/<path:content_type_id>/<path:object_id>/": (
            f"admin/r/{ContentType.objects.get_for_model(Label).pk}/{world.label.pk}/"
        ),
    }
    if route in special:
        return "/" + special[route]
    values = {
        "<str:key>": world.label.key,
        "<int:deletion_id>": world.deletion.pk,
        "<int:job_id>": world.job.pk,
        "<int:run_id>": world.run.pk,
        "<int:contact_id>": world.contact.pk,
        "<int:audience_id>": world.audience.pk,
        "<int:list_id>": world.contact_list.pk,
        "<str:wix_id>": world.contact.wix_id,
        "<int:operation_id>": world.contact_change.pk,
        "<id>": world.users["staff"].pk,
    }
    url = route
    for converter, value in values.items():
        url = url.replace(converter, str(value))
    if "<path:object_id>" in url:
        model = re.match(r"admin/(\w+/\w+)/", url).group(1)
        url = url.replace("<path:object_id>", str(objects[model]))
    assert "<" not in url, f"no value for a converter in {route}"
    assert "(?P" not in url, f"no value for a group in {route}"
    return "/" + url


# --- The tests --------------------------------------------------------------------------------


def test_every_pattern_has_an_expectation():
    routes = project_routes()
    assert len(routes) == len(set(routes))
    missing = [route for route in routes if expectation(route) is None]
    assert not missing, f"URL patterns without a row in the permission matrix: {missing}"
    stale = sorted(set(EXPECTED) - set(routes))
    assert not stale, f"Matrix rows for patterns that no longer exist: {stale}"
    for rule in (*EXPECTED.values(), *(rule for _regex, rule in RULES)):
        assert {len(rule["GET"]), len(rule["POST"])} == {len(ROLES)}


# An empty POST must be harmless everywhere; only "Sync now" would start a sync without a body.
HARMLESS_POST = {"admin/sync/syncrun/sync-now/": {"kind": "no-such-kind"}}
MAY_DUPLICATE = {"marketing", "managers", "superuser"}


def _status(response) -> str:
    if response.status_code == 302 and response["Location"].startswith(LOGIN):
        return "L"
    return str(response.status_code)


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(world, cache_state, wix_state, role):
    cache_before, wix_before = cache_state(), wix_state()
    client = world.client(role)
    wrong = []
    for route in project_routes():
        url = concrete(route, world)
        expected = expectation(route)
        for method in ("GET", "POST"):
            if method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, HARMLESS_POST.get(route, {}))
            want = expected[method][ROLES.index(role)]
            if _status(response) != want:
                wrong.append(f"{method} {url}: {_status(response)}, expected {want}")
            if route == "admin/logout/" and world.users[role] is not None:
                client.force_login(world.users[role])
    assert not wrong, f"{role}:\n" + "\n".join(wrong)
    cache_after = cache_state()
    copies = [a for a in cache_after["audiences"] if a[1] == f"{world.audience.name} (copy)"]
    cache_after["audiences"] = [a for a in cache_after["audiences"] if a not in copies]
    assert cache_after == cache_before
    assert len(copies) == (role in MAY_DUPLICATE)  # the one POST that is a write by itself
    assert wix_state() == wix_before


def test_only_the_webhook_is_exempt_from_csrf():
    exempt = [route for route, view in project_patterns() if getattr(view, "csrf_exempt", False)]
    assert exempt == ["wix/webhooks/"]


def _writing_body(route: str, world: World) -> dict:
    """A body that would change something if the request were let through."""
    other = Label.objects.exclude(pk=world.label.pk).filter(label_type="USER_DEFINED").first()
    key, name = world.label.key, world.label.display_name
    bodies = {
        "admin/logout/": {},
        "admin/login/": {"username": "root", "password": "pw"},
        "admin/password_change/": {
            "old_password": "pw",
            "new_password1": "A-long-new-passw0rd",
            "new_password2": "A-long-new-passw0rd",
        },
        "admin/labels/label/new/": {"display_name": "Made without a token"},
        "admin/labels/label/merge/run/": {"source": [key, other.key], "target": key},
        "admin/labels/label/deletions/<int:deletion_id>/undo/": {"place": "list"},
        "admin/labels/label/<str:key>/rename/": {"display_name": "Renamed", "expected_name": name},
        "admin/labels/label/<str:key>/delete/": {"expected_name": name},
        "admin/sync/syncrun/sync-now/": {"kind": "full"},
        "admin/contacts/contact/bulk/preview/": {"selection": "all", "add": other.key},
        "admin/contacts/contact/bulk/start/": {"selection": "all", "add": other.key},
        "admin/contacts/contact/audience/save/": {"name": "Tokenless", "all": key},
        "admin/contacts/contact/from-list/": {"text": world.contact.wix_id},
        "admin/contacts/contact/from-list/<int:list_id>/apply/": {
            "label": other.key,
            "action": "add",
        },
        "admin/contacts/contact/<int:contact_id>/labels/add/": {"key": other.key},
        "admin/contacts/contact/<int:contact_id>/labels/remove/": {"key": key},
        "admin/contacts/audience/<int:audience_id>/wix-label/preview/": {"name": "Tokenless"},
        "admin/contacts/audience/<int:audience_id>/wix-label/start/": {"name": "Tokenless"},
        "admin/contacts/audience/<int:audience_id>/living/preview/": {"name": "Tokenless"},
        "admin/contacts/audience/<int:audience_id>/living/start/": {"name": "Tokenless"},
        "admin/contacts/audience/<int:audience_id>/living/stop/": {},
        "admin/contacts/audience/<int:audience_id>/living/confirm/": {"expected": "0"},
        "admin/contacts/audience/<path:object_id>/change/": {"name": "Renamed", "description": ""},
        "admin/contacts/audience/<path:object_id>/delete/": {"post": "yes"},
        "admin/auth/group/add/": {"name": "Tokenless"},
        "admin/auth/group/<path:object_id>/change/": {"name": "Tokenless"},
        "admin/auth/group/<path:object_id>/delete/": {"post": "yes"},
        "admin/auth/user/add/": {
            "username": "tokenless",
            "password1": "A-long-new-passw0rd",
            "password2": "A-long-new-passw0rd",
        },
        "admin/auth/user/<path:object_id>/change/": {"username": "tokenless"},
        "admin/auth/user/<path:object_id>/delete/": {"post": "yes"},
        "admin/auth/user/<id>/password/": {
            "password1": "A-long-new-passw0rd",
            "password2": "A-long-new-passw0rd",
        },
    }
    return bodies.get(route, {"anything": "x"})


def test_writes_without_the_csrf_token_are_refused_and_change_nothing(
    world, cache_state, wix_state
):
    world.deletion.restored_at = None  # undo would really restore it, given the token
    world.deletion.save()
    cache_before, wix_before = cache_state(), wix_state()
    groups_before = sorted(Group.objects.values_list("name", flat=True))
    users_before = sorted(User.objects.values_list("username", "password", "is_active"))
    client = world.client("superuser", enforce_csrf_checks=True)
    let_through = []
    writes = [
        route
        for route in project_routes()
        if expectation(route)["POST"][ROLES.index("superuser")] != "405"
        and route != "wix/webhooks/"
    ]
    assert len(writes) > 30
    for route in writes:
        response = client.post(concrete(route, world), _writing_body(route, world))
        if response.status_code != 403:
            let_through.append(f"{route}: {response.status_code}")
    assert not let_through, "POSTs without a CSRF token that were not refused: " + str(let_through)
    assert cache_state() == cache_before
    assert wix_state() == wix_before
    assert sorted(Group.objects.values_list("name", flat=True)) == groups_before
    assert sorted(User.objects.values_list("username", "password", "is_active")) == users_before
    # The same client with the token gets through: the refusals above were the token's doing.
    client.get(CHANGELIST)
    token = client.cookies["csrftoken"].value
    made = client.post(
        CREATE, {"display_name": "Made with a token", "csrfmiddlewaretoken": token}, headers=HTMX
    )
    assert made.status_code == 200
    assert Label.objects.filter(display_name="Made with a token").exists()
    assert "Made with a token" in {name for _key, name in wix_state()["labels"]}
