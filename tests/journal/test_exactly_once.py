"""Exactly once: every endpoint that changes something, sent twice with the same form (the same
idempotency key: a double click, a retry, the browser sending it again), changes Wix once,
writes one journal entry, and answers the second time with the first answer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import reverse

from contacts.models import Audience
from contacts.segments import SegmentRules
from journal.models import Operation
from labels.models import LabelDeletion, LabelJob
from tests.fixtures.users import HTMX
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db

# The Wix API calls that change something (queries are POSTs too, but read).
CHANGING_ROUTES = (
    "POST /contacts/v4/labels",
    "PATCH /contacts/v4/labels/{key}",
    "DELETE /contacts/v4/labels/{key}",
    "POST /contacts/v4/contacts/{id}/labels",
    "DELETE /contacts/v4/contacts/{id}/labels",
    "POST /contacts/v4/bulk/contacts/add-remove-labels",
)


def wix_changes(sandbox) -> int:
    routes = sandbox.stats()["byRoute"]
    return sum(routes.get(route, 0) for route in CHANGING_ROUTES)


def _user_label(index: int = 0) -> Label:
    labels = Label.objects.filter(label_type=Label.Type.USER_DEFINED, contacts__isnull=False)
    return labels.distinct().order_by("key")[index]


def _deleted(client, manager) -> LabelDeletion:
    label = _user_label()
    path = reverse("admin:labels_label_remove", args=[label.key])
    client.post(path, {"expected_name": label.display_name}, headers=HTMX)
    return LabelDeletion.objects.get(key=label.key)


def _bulk_job(client, run_label_jobs) -> LabelJob:
    label, within = _user_label(0), _user_label(1)
    path = reverse("admin:contacts_contact_bulk_start")
    client.post(path, {"selection": "all", "any": within.key, "add": label.key}, headers=HTMX)
    run_label_jobs()
    return LabelJob.objects.latest("pk")


@dataclass(frozen=True)
class Endpoint:
    name: str
    # (client, manager, run_label_jobs) -> (path, data); may do the steps that come before
    prepare: Callable
    jobs: bool = False  # the change is carried out by a bulk job (run after both submits)


def _contact_with_label():
    membership = ContactLabel.objects.select_related("label").order_by("pk").first()
    return membership.contact_id, membership.label.key


ENDPOINTS = [
    Endpoint(
        "create a label",
        lambda c, m, r: (reverse("admin:labels_label_create"), {"display_name": "Twice"}),
    ),
    Endpoint(
        "rename a label",
        lambda c, m, r: (
            reverse("admin:labels_label_rename", args=[_user_label().key]),
            {"display_name": "Renamed once", "expected_name": _user_label().display_name},
        ),
    ),
    Endpoint(
        "delete a label",
        lambda c, m, r: (
            reverse("admin:labels_label_remove", args=[_user_label().key]),
            {"expected_name": _user_label().display_name},
        ),
    ),
    Endpoint(
        "undo a deletion",
        lambda c, m, r: (
            reverse("admin:labels_label_undo", args=[_deleted(c, m).pk]),
            {"place": "list"},
        ),
        jobs=True,
    ),
    Endpoint(
        "merge labels",
        lambda c, m, r: (
            reverse("admin:labels_label_merge"),
            {"source": [_user_label(0).key, _user_label(1).key], "target": _user_label(0).key},
        ),
        jobs=True,
    ),
    Endpoint(
        "label contacts in bulk",
        lambda c, m, r: (
            reverse("admin:contacts_contact_bulk_start"),
            {"selection": "all", "any": _user_label(1).key, "add": _user_label(0).key},
        ),
        jobs=True,
    ),
    Endpoint(
        "undo a bulk change",
        lambda c, m, r: (reverse("admin:labels_labeljob_undo", args=[_bulk_job(c, r).pk]), {}),
        jobs=True,
    ),
    Endpoint(
        "give a contact a label",
        lambda c, m, r: (
            reverse("admin:contacts_contact_label_add", args=[Contact.objects.first().pk]),
            {
                "key": Label.objects.exclude(contacts=Contact.objects.first())
                .filter(label_type=Label.Type.USER_DEFINED)
                .first()
                .key
            },
        ),
    ),
    Endpoint(
        "take a label from a contact",
        lambda c, m, r: (
            reverse("admin:contacts_contact_label_remove", args=[_contact_with_label()[0]]),
            {"key": _contact_with_label()[1]},
        ),
    ),
    Endpoint(
        "save as Wix label",
        lambda c, m, r: (
            reverse(
                "admin:contacts_audience_wix_label_start",
                args=[
                    Audience.objects.create(
                        name="Twice audience",
                        rules=SegmentRules(any_of=(_user_label().key,)).as_json(),
                        created_by=m,
                    ).pk
                ],
            ),
            {"name": "Campaign once"},
        ),
        jobs=True,
    ),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_a_second_submit_of_the_same_form_changes_nothing(
    endpoint, client, manager, synced, sandbox, run_label_jobs
):
    synced(contacts=30, labels=5)
    client.force_login(manager)
    path, data = endpoint.prepare(client, manager, run_label_jobs)
    ops_before = Operation.objects.count()
    jobs_before = LabelJob.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    sandbox.reset_stats()
    form = {**data, "idempotency_key": uuid.uuid4().hex}

    first = client.post(path, form, headers=HTMX)
    second = client.post(path, form, headers=HTMX)
    if endpoint.jobs:
        run_label_jobs()

    assert first.status_code == 200, first.content
    assert second.status_code == first.status_code
    assert second.content == first.content
    assert second["X-Idempotent-Replay"] == "true"
    new_ops = Operation.objects.count() - ops_before
    assert new_ops == 1, list(Operation.objects.values_list("summary", flat=True))
    if endpoint.jobs:
        jobs = LabelJob.objects.filter(pk__gt=jobs_before)
        assert jobs.exists()
        # each job sent its contacts once, in one Wix bulk job (they are few)
        bulk = sandbox.stats()["byRoute"].get(CHANGING_ROUTES[-1], 0)
        assert bulk == sum(1 for job in jobs if job.total)
    else:
        assert wix_changes(sandbox) == 1


def test_the_same_key_on_another_form_is_refused(client, manager, synced, sandbox):
    synced(contacts=10, labels=3)
    client.force_login(manager)
    key = uuid.uuid4().hex
    create = reverse("admin:labels_label_create")
    client.post(create, {"display_name": "First", "idempotency_key": key}, headers=HTMX)
    label = _user_label()
    other = client.post(
        reverse("admin:labels_label_rename", args=[label.key]),
        {"display_name": "Sneaky", "expected_name": label.display_name, "idempotency_key": key},
        headers=HTMX,
    )
    assert other.status_code == 409
    assert "used for something else" in other.content.decode()
    assert not Label.objects.filter(display_name="Sneaky").exists()


def test_the_same_key_with_other_fields_is_refused_not_answered_as_the_first(
    client, manager, synced, sandbox
):
    # A contact's page keeps its key when an answer is lost: the next label picked with it is
    # another change, and must neither be dropped silently nor be made without the person knowing.
    synced(contacts=10, labels=3)
    client.force_login(manager)
    key = uuid.uuid4().hex
    create = reverse("admin:labels_label_create")
    first = client.post(create, {"display_name": "First", "idempotency_key": key}, headers=HTMX)
    again = client.post(create, {"display_name": "First", "idempotency_key": key}, headers=HTMX)
    assert again["X-Idempotent-Replay"] == "true"
    assert again.content == first.content
    other = client.post(create, {"display_name": "Second", "idempotency_key": key}, headers=HTMX)
    assert other.status_code == 409
    assert "used for something else" in other.content.decode()
    assert "Nothing was changed." in other.content.decode()
    assert not Label.objects.filter(display_name="Second").exists()
    assert Label.objects.filter(display_name="First").count() == 1


def test_a_damaged_key_is_refused_plainly(client, manager, synced, sandbox):
    synced(contacts=5, labels=2)
    client.force_login(manager)
    answer = client.post(
        reverse("admin:labels_label_create"),
        {"display_name": "Damaged", "idempotency_key": "<script>"},
        headers=HTMX,
    )
    assert answer.status_code == 400
    assert "This form is damaged" in answer.content.decode()
    assert "<script>" not in answer.content.decode()
    assert not Label.objects.filter(display_name="Damaged").exists()


def test_another_persons_key_is_their_own(client, manager, roles, synced, sandbox):
    """Keys are per person: the same key from two people is two forms."""
    from tests.fixtures.users import make_user

    synced(contacts=5, labels=2)
    other = make_user("other-manager", groups=(roles["Label managers"],))
    key = uuid.uuid4().hex
    client.force_login(manager)
    client.post(
        reverse("admin:labels_label_create"),
        {"display_name": "Mine", "idempotency_key": key},
        headers=HTMX,
    )
    client.force_login(other)
    answer = client.post(
        reverse("admin:labels_label_create"),
        {"display_name": "Theirs", "idempotency_key": key},
        headers=HTMX,
    )
    assert "X-Idempotent-Replay" not in answer
    assert Label.objects.filter(display_name="Theirs").exists()


def test_every_changing_form_on_the_pages_carries_a_key():
    """The templates: every POST form and every element that posts on its own has a key."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "templates"
    missing = []
    for path in root.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"<(form|button|input)\b[^>]*>", text, flags=re.S):
            tag = match.group(0)
            posts = "hx-post=" in tag or re.search(r'method="post"', tag, flags=re.I)
            # Previews change nothing, and are posted again as the form changes: no key.
            if not posts or "logout" in tag or "preview" in tag:
                continue
            if tag.startswith("<form"):
                body = text[match.end() : text.find("</form>", match.end())]
                if "idempotency_key" not in body and "idempotency_vals" not in tag:
                    missing.append(f"{path.name}: {tag[:80]}")
            elif "idempotency_vals" not in tag and not _inside_keyed_form(text, match.start()):
                missing.append(f"{path.name}: {tag[:80]}")
    assert not missing, "\n".join(missing)


def _inside_keyed_form(text: str, at: int) -> bool:
    start = text.rfind("<form", 0, at)
    end = text.rfind("</form>", 0, at)
    return start > end and "idempotency_key" in text[start:at]
