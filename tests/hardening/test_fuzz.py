"""Property-based fuzzing (hypothesis) of the segment parameters and of label names."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labels.services import display_name_problem
from tests.fixtures.users import HTMX
from wixcache.models import Label

pytestmark = pytest.mark.django_db

CONTACTS = reverse("admin:contacts_contact_changelist")
PARTIALS = [
    CONTACTS,
    reverse("admin:contacts_contact_suggest"),
    reverse("admin:contacts_contact_export"),
]
FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Text of every kind but surrogates (which cannot travel in a request).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)
PARAM_NAMES = st.sampled_from(
    ["all", "any", "none", "q", "unlabeled", "after", "before", "page", "per_page", "count",
     "audience", "label_q", "group", "excel"]
)  # fmt: skip


def _well_formed(response) -> None:
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 200 and response.get("Content-Type", "").startswith("text/csv"):
        assert b"".join(response.streaming_content).startswith(b"First name,Last name,Email")
        return
    body = response.content.decode()  # valid UTF-8
    # Input never comes back as markup: the page's own script tags all load a file or carry
    # the CSP nonce.
    for tag in re.findall(r"<script\b[^>]*>", body):
        assert " src=" in tag or " nonce=" in tag, tag


@FUZZ
@given(
    params=st.lists(st.tuples(PARAM_NAMES, TEXT), max_size=8),
    known=st.lists(st.sampled_from(["all", "any", "none"]), max_size=3),
    htmx=st.booleans(),
    endpoint=st.sampled_from(PARTIALS),
)
def test_segment_parameters_never_fail(world, params, known, htmx, endpoint):
    client = world.client("superuser")
    params = params + [(group, world.label.key) for group in known]
    response = client.get(f"{endpoint}?{urlencode(params)}", headers=HTMX if htmx else {})
    _well_formed(response)


@FUZZ
@given(keys=st.lists(TEXT, max_size=60), group=st.sampled_from(["all", "any", "none"]))
def test_lists_of_keys_never_fail(world, keys, group):
    client = world.client("superuser")
    response = client.get(CONTACTS, {group: keys}, headers=HTMX)
    _well_formed(response)


NAMES = st.one_of(
    TEXT,
    st.text(st.sampled_from(" \t\n\x00\u200b\u202eaA1é🎉<>&'\""), max_size=12),
    st.text(min_size=170, max_size=200),
)


def _label_names() -> list[str]:
    return sorted(Label.objects.values_list("display_name", flat=True))


@FUZZ
@given(name=NAMES)
def test_create_makes_one_trimmed_label_or_refuses(world, cache_state, wix_state, name):
    client = world.client("managers")
    wanted = name.strip()
    problem = display_name_problem(wanted)  # NUL would not even reach the database here
    existed = not problem and Label.objects.filter(display_name=wanted).exists()
    cache_before, wix_before = cache_state(), wix_state()
    response = client.post(
        reverse("admin:labels_label_create"),
        {"display_name": name, "confirm_similar": "on"},
        headers=HTMX,
    )
    assert response.status_code == 200
    if problem or existed:
        assert (cache_state(), wix_state()) == (cache_before, wix_before)
        if not existed:
            assert "errorlist" in response.content.decode()
        return
    assert Label.objects.filter(display_name=wanted).count() == 1
    wix = wix_state()["labels"]
    assert [n for _k, n in wix if n == wanted] == [wanted]
    assert len(wix) == len(wix_before["labels"]) + 1
    assert len(_label_names()) == len(cache_before["labels"]) + 1


@FUZZ
@given(name=NAMES)
def test_rename_renames_to_the_trimmed_name_or_refuses(world, cache_state, wix_state, name):
    client = world.client("managers")
    label = Label.objects.get(pk=world.label.pk)
    wanted = name.strip()
    problem = display_name_problem(wanted)
    taken = not problem and Label.objects.filter(display_name=wanted).exclude(pk=label.pk).exists()
    cache_before, wix_before = cache_state(), wix_state()
    response = client.post(
        reverse("admin:labels_label_rename", args=[label.key]),
        {"display_name": name, "expected_name": label.display_name},
        headers=HTMX,
    )
    assert response.status_code == 200
    if problem or taken:
        assert (cache_state(), wix_state()) == (cache_before, wix_before)
        assert "errorlist" in response.content.decode()
        return
    assert Label.objects.get(pk=label.pk).display_name == wanted
    assert dict(wix_state()["labels"])[label.key] == wanted
    assert len(wix_state()["labels"]) == len(wix_before["labels"])
