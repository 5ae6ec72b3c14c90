"""Bad input on every form and htmx endpoint: a plain message or the right result, never a 500,
and nothing lost: where input is refused, the cache and Wix are as they were.

The endpoints are called as an htmx request would call them, through Django's test client.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.urls import reverse

from contacts.models import Audience
from labels.models import LabelDeletion, LabelJob
from sync.models import SyncRun
from tests.fixtures.users import HTMX
from tests.fixtures.webhooks import WIX_PUBLIC_PEM, signed
from wixcache.models import Contact, ContactLabel, Label

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
# Text that must be refused wherever a label name is typed, with the message it gets.
REFUSED_NAMES = {
    "empty": ("", "Type a name for the label."),
    "blank": ("   \t ", "Type a name for the label."),
    "181 characters": ("n" * 181, "at most 180 characters; this one has 181"),
    "10,000 characters": ("n" * 10_000, "at most 180 characters; this one has 10000"),
    "NUL byte": ("VIP\x00list", "Null characters are not allowed."),
    "bell": ("VIP\x07", "Control characters"),
    "line break": ("VIP\nlist", "Control characters"),
    "right-to-left override": ("\u202epiv", "invisible"),
    "zero-width space": ("V\u200bIP", "invisible"),
    "only zero-width": ("\u200b", "invisible"),
}
# Text that is a fine label name, if an odd one: made exactly as typed (trimmed), shown escaped.
ACCEPTED_NAMES = {
    "markup": "<b>Bold</b> & <i>co</i>",
    "script": SCRIPT,
    "SQL": "'; DROP TABLE labels_label; --",
    "emoji": "🎉 Party people 👩‍👩‍👧",
    "180 characters": "m" * 180,
    "padded": "   Padded name   ",
    "quotes": "\"double\" and 'single'",
    "accents and CJK": "Café 東京 Ωmega",
}
# Any text at all, for fields that search or carry state: never a 500, never raw markup.
ANY_TEXT = {
    "empty": "",
    "blank": "   ",
    "181": "q" * 181,
    "10k": "q" * 10_000,
    "markup": "<b>x</b>",
    "script": SCRIPT,
    "sql": "'; DROP TABLE labels_label; --",
    "emoji": "🎉",
    "rtl": "\u202eabc",
    "zero-width": "\u200b",
    "nul": "a\x00b",
    "control": "\x01\x1f\x7f",
    "percent": "%_%\\",
    "non-ascii": "Ünïcødé",
}


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def label_url(name: str, key: str) -> str:
    return url(f"labels_label_{name}", "KEY").replace("KEY", quote(key, safe=""))


def no_raw_script(response) -> None:
    body = response.content.decode(errors="replace")
    assert "<script>alert" not in body
    assert "<b>x</b>" not in body
    assert "<b>Bold</b>" not in body


def plain(response, status: int | tuple[int, ...] = 200) -> str:
    """The response is not an error page (and has the status wanted), as text."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, response.content[:2000]
    no_raw_script(response)
    return response.content.decode()


@pytest.fixture
def manager(world):
    return world.client("managers")


@pytest.fixture
def root(world):
    return world.client("superuser")


@pytest.fixture
def unchanged(world, cache_state, wix_state):
    """Call at the end of a test: the cache and Wix are as they were when it started."""
    before = cache_state(), wix_state()

    def check() -> None:
        assert (cache_state(), wix_state()) == before

    return check


# --- Labels: create and rename ----------------------------------------------------------------


@pytest.mark.parametrize(("name", "message"), REFUSED_NAMES.values(), ids=REFUSED_NAMES)
def test_create_refuses_bad_names_plainly(manager, unchanged, name, message):
    html = plain(manager.post(url("labels_label_create"), {"display_name": name}, headers=HTMX))
    assert message in html
    unchanged()


@pytest.mark.parametrize("name", ACCEPTED_NAMES.values(), ids=ACCEPTED_NAMES)
def test_create_makes_odd_but_valid_names_exactly_once_and_escapes_them(manager, sandbox, name):
    wanted = name.strip()
    response = manager.post(url("labels_label_create"), {"display_name": name}, headers=HTMX)
    plain(response)
    made = Label.objects.get(display_name=wanted)
    assert [lb for lb in sandbox.dump()["labels"] if lb["displayName"] == wanted] != []
    assert sum(lb["displayName"] == wanted for lb in sandbox.dump()["labels"]) == 1
    again = manager.post(url("labels_label_create"), {"display_name": name}, headers=HTMX)
    plain(again)  # a double submit finds the label instead of making a second one
    assert Label.objects.filter(display_name=wanted).count() == 1
    assert sum(lb["displayName"] == wanted for lb in sandbox.dump()["labels"]) == 1
    page = plain(manager.get(url("labels_label_changelist"), {"q": wanted[:50]}))
    assert made.key in page


@pytest.mark.parametrize(("name", "message"), REFUSED_NAMES.values(), ids=REFUSED_NAMES)
def test_rename_refuses_bad_names_plainly(world, manager, unchanged, name, message):
    label = world.label
    response = manager.post(
        label_url("rename", label.key),
        {"display_name": name, "expected_name": label.display_name},
        headers=HTMX,
    )
    assert message in plain(response)
    unchanged()


@pytest.mark.parametrize("name", ACCEPTED_NAMES.values(), ids=ACCEPTED_NAMES)
def test_rename_to_odd_but_valid_names(world, manager, sandbox, name):
    label = world.label
    response = manager.post(
        label_url("rename", label.key),
        {"display_name": name, "expected_name": label.display_name},
        headers=HTMX,
    )
    assert "Renamed." in plain(response)
    assert Label.objects.get(key=label.key).display_name == name.strip()
    wix = {lb["key"]: lb["displayName"] for lb in sandbox.dump()["labels"]}
    assert wix[label.key] == name.strip()


@pytest.mark.parametrize(
    "expected_name",
    ["", "Someone else's name", "x" * 10_000, "a\x00b", SCRIPT],
    ids=["missing", "wrong", "10k", "nul", "script"],
)
def test_rename_with_a_bad_expected_name_changes_nothing(world, manager, unchanged, expected_name):
    response = manager.post(
        label_url("rename", world.label.key),
        {"display_name": "A fine new name", "expected_name": expected_name},
        headers=HTMX,
    )
    html = plain(response)
    assert "reload" in html.lower() or "renamed this label" in html
    unchanged()


def test_create_with_a_near_duplicate_asks_first(world, manager, unchanged):
    shouted = f"  {world.label.display_name.upper()}  "
    html = plain(manager.post(url("labels_label_create"), {"display_name": shouted}, headers=HTMX))
    assert world.label.display_name in html
    assert 'name="confirm_similar"' in html
    unchanged()


# --- Labels: keys in the address --------------------------------------------------------------

BAD_KEYS = {
    "unknown": "custom.no-such-label",
    "nul": "custom.vip\x00",
    "long": "k" * 10_000,
    "markup": "<b>x<i>",
    "script": "<script>alert(1)",
    "sql": "custom.vip' OR '1'='1",
    "emoji": "🎉",
    "rtl": "\u202ecustom",
    "percent": "%25",
}


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS)
@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("row", "get"),
        ("edit", "get"),
        ("delete_confirm", "get"),
        ("rename", "post"),
        ("remove", "post"),
    ],
)
def test_unknown_or_malformed_keys_get_the_gone_row(manager, unchanged, key, name, method):
    data = {"display_name": "New", "expected_name": "Old"} if method == "post" else {}
    response = getattr(manager, method)(label_url(name, key), data, headers=HTMX)
    assert "no label with key" in plain(response, 404)
    unchanged()


# --- Labels: list parameters ------------------------------------------------------------------


@pytest.mark.parametrize("text", ANY_TEXT.values(), ids=ANY_TEXT)
@pytest.mark.parametrize("param", ["q", "o", "page"])
def test_label_list_parameters_never_fail(world, manager, param, text):
    html = plain(manager.get(url("labels_label_changelist"), {param: text}, headers=HTMX))
    assert 'id="label-table"' in html


@pytest.mark.parametrize("page", ["0", "-1", "99999999999999999999", "1e3", "2"])
def test_label_list_page_numbers(world, manager, page):
    html = plain(manager.get(url("labels_label_changelist"), {"page": page}))
    assert world.label.display_name in html


def test_label_search_finds_markup_as_text(world, manager):
    manager.post(url("labels_label_create"), {"display_name": SCRIPT}, headers=HTMX)
    html = plain(manager.get(url("labels_label_changelist"), {"q": "<script"}, headers=HTMX))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- Labels: merge ----------------------------------------------------------------------------


def _two_user_labels(world) -> tuple[Label, Label]:
    other = Label.objects.filter(label_type=Label.Type.USER_DEFINED).exclude(pk=world.label.pk)
    return world.label, other.order_by("key").first()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Tick the labels to merge"),
        ({"source": ["one"]}, "no longer exists"),
        ({"source": ["LABEL"]}, "at least two labels"),
        ({"source": ["LABEL", "custom.no-such"]}, "no longer exists"),
        ({"source": ["LABEL", "nul\x00"]}, "no longer exists"),
        ({"source": ["LABEL", "k" * 10_000]}, "no longer exists"),
        ({"source": ["LABEL", SCRIPT]}, "no longer exists"),
        ({"source": ["LABEL", "OTHER"], "target": "custom.no-such"}, "target label"),
        ({"source": ["LABEL", "OTHER"], "target": "nul\x00"}, "target label"),
        ({"source": ["LABEL", "SYSTEM"], "target": "LABEL"}, "cannot be merged away"),
    ],
    ids=[
        "nothing",
        "one unknown",
        "one",
        "unknown",
        "nul",
        "10k",
        "script",
        "unknown target",
        "nul target",
        "system away",
    ],
)
@pytest.mark.parametrize("endpoint", ["merge_preview", "merge"])
def test_merge_refuses_bad_choices(world, manager, unchanged, data, message, endpoint):
    label, other = _two_user_labels(world)
    names = {"LABEL": label.key, "OTHER": other.key, "SYSTEM": world.system.key}
    data = {
        field: [names.get(v, v) for v in value]
        if isinstance(value, list)
        else names.get(value, value)
        for field, value in data.items()
    }
    send = manager.get if endpoint == "merge_preview" else manager.post
    response = send(url(f"labels_label_{endpoint}"), data, headers=HTMX)
    if endpoint == "merge_preview" and message == "at least two labels":
        # One ticked label: the preview asks which label to merge it into (a picker).
        message = f"Merge “{label.display_name}” into which label?"
    assert message in plain(response)
    assert not LabelJob.objects.filter(kind=LabelJob.Kind.MERGE).exists()
    unchanged()


def test_merge_of_a_label_deleted_meanwhile_is_refused(world, manager, unchanged):
    label, other = _two_user_labels(world)
    preview = manager.get(url("labels_label_merge_preview"), {"source": [label.key, other.key]})
    assert other.display_name in plain(preview)
    other_key = other.key
    Label.objects.filter(pk=other.pk).delete()  # a sync removed it after the preview
    response = manager.post(
        url("labels_label_merge"), {"source": [label.key, other_key], "target": label.key}
    )
    assert "no longer exists" in plain(response)
    assert not LabelJob.objects.filter(kind=LabelJob.Kind.MERGE).exists()


# --- Labels: delete, undo, stale pages and double submits -------------------------------------


def test_delete_of_a_label_renamed_meanwhile_deletes_nothing(world, manager, sandbox):
    label = world.label
    sandbox.api("PATCH", f"/contacts/v4/labels/{label.key}", json={"label": {"displayName": "X"}})
    Label.objects.filter(pk=label.pk).update(display_name="Renamed here")  # a webhook came in
    response = manager.post(
        label_url("remove", label.key), {"expected_name": label.display_name}, headers=HTMX
    )
    assert "nothing was deleted" in plain(response)
    assert Label.objects.filter(key=label.key).exists()
    assert label.key in {lb["key"] for lb in sandbox.dump()["labels"]}


def test_delete_double_submit_deletes_once_and_says_gone(world, manager, sandbox):
    label = world.label
    first = manager.post(
        label_url("remove", label.key), {"expected_name": label.display_name}, headers=HTMX
    )
    plain(first)
    second = manager.post(
        label_url("remove", label.key), {"expected_name": label.display_name}, headers=HTMX
    )
    assert "no label with key" in plain(second, 404)
    assert LabelDeletion.objects.filter(key=label.key).count() == 1


def test_rename_of_a_label_deleted_in_wix_meanwhile(world, manager, sandbox):
    label = world.label
    assert sandbox.api("DELETE", f"/contacts/v4/labels/{label.key}").status_code < 300
    response = manager.post(
        label_url("rename", label.key),
        {"display_name": "Too late", "expected_name": label.display_name},
        headers=HTMX,
    )
    assert "was deleted in Wix meanwhile" in plain(response)
    assert not Label.objects.filter(key=label.key).exists()
    assert "Too late" not in {lb["displayName"] for lb in sandbox.dump()["labels"]}


def test_rename_double_submit_renames_once(world, manager, sandbox):
    label = world.label
    data = {"display_name": "Renamed once", "expected_name": label.display_name}
    assert "Renamed." in plain(manager.post(label_url("rename", label.key), data, headers=HTMX))
    again = plain(manager.post(label_url("rename", label.key), data, headers=HTMX))
    assert "renamed this label" in again
    assert Label.objects.get(key=label.key).display_name == "Renamed once"


@pytest.mark.parametrize("place", ["row", "list", "", "x" * 1000, "a\x00"])
def test_undo_twice_restores_once(world, manager, sandbox, place):
    label = world.label
    manager.post(label_url("remove", label.key), {"expected_name": label.display_name})
    deletion = LabelDeletion.objects.get(key=label.key)
    undo = url("labels_label_undo", deletion.pk)
    plain(manager.post(undo, {"place": place}, headers=HTMX))
    again = plain(manager.post(undo, {"place": place}, headers=HTMX))
    assert "has already been undone" in again
    assert Label.objects.filter(display_name=label.display_name).count() == 1
    assert LabelJob.objects.filter(kind=LabelJob.Kind.RESTORE).count() == 1


@pytest.mark.parametrize("deletion_id", ["999999", "0", "99999999999999999999"])
def test_undo_of_an_unknown_deletion_is_404(manager, unchanged, deletion_id):
    path = url("labels_label_undo", 1).replace("/1/", f"/{deletion_id}/")
    assert manager.post(path, headers=HTMX).status_code == 404
    unchanged()


@pytest.mark.parametrize("job_id", ["999999", "99999999999999999999"])
def test_progress_of_an_unknown_job_is_404(manager, job_id):
    path = url("labels_labeljob_progress", 1).replace("/1/", f"/{job_id}/")
    assert manager.get(path, headers=HTMX).status_code == 404


# --- Contacts page: segment parameters (contacts/forms.py, contacts/audience_views.py) ---------

CONTACTS = reverse("admin:contacts_contact_changelist")
SEGMENT_PARAMS = {
    **{f"all={name}": {"all": text} for name, text in ANY_TEXT.items()},
    **{f"none={name}": {"none": text} for name, text in ANY_TEXT.items()},
    **{f"q={name}": {"q": text} for name, text in ANY_TEXT.items()},
    "any=many keys": {"any": [f"custom.k{i}" for i in range(60)]},
    "all=known and unknown": {"all": ["LABEL", "custom.nope"]},
    "all and none same": {"all": "LABEL", "none": "LABEL"},
    "unlabeled=garbage": {"unlabeled": "maybe"},
    "after=garbage": {"after": "garbage"},
    "after=no id": {"after": "2024-01-01T00:00:00+00:00~"},
    "after=naive": {"after": "2024-01-01T00:00:00~abc"},
    "after=nul id": {"after": "2024-01-01T00:00:00+00:00~a\x00b"},
    "after=script": {"after": f"2024-01-01T00:00:00+00:00~{SCRIPT}"},
    "after=year 10000": {"after": "10000-01-01T00:00:00+00:00~abc"},
    "after and before": {
        "after": "2024-01-01T00:00:00+00:00~a",
        "before": "2024-01-01T00:00:00+00:00~b",
    },
    "before=far future": {"before": "9999-12-31T23:59:59+00:00~zzz"},
    "page=text": {"page": "two"},
    "page=0": {"page": "0"},
    "page=huge": {"page": "99999999999999999999"},
    "per_page=7": {"per_page": "7"},
    "per_page=text": {"per_page": "all"},
    "count=-1": {"count": "-1"},
    "count=text": {"count": "many"},
    "count=huge": {"count": "99999999999999999999999"},
    "audience=text": {"audience": "one"},
    "audience=unknown": {"audience": "999999"},
    "audience=nul": {"audience": "1\x00"},
    "audience=superscript": {"audience": "²"},
}


def _with_keys(world, params: dict) -> dict:
    return {
        name: [world.label.key if v == "LABEL" else v for v in value]
        if isinstance(value, list)
        else (world.label.key if value == "LABEL" else value)
        for name, value in params.items()
    }


# The segment parameters the contacts page cannot read: it says so in place of the results.
# Every other case shows the results (a contact count), unknown or odd text being just text.
UNREADABLE = {
    *(f"{group}={name}" for group in ("all", "none") for name in ("181", "10k", "nul", "control")),
    "q=181",  # one word longer than any name or email (at most 80 characters)
    "q=10k",
    "q=nul",
    "any=many keys",
    "after=garbage",
    "after=no id",
    "after=naive",
    "after=nul id",
    "after=year 10000",
    "after and before",
    "page=text",
    "page=0",
    "page=huge",
    "per_page=7",
    "per_page=text",
    "count=-1",
    "count=text",
    "audience=text",
    "audience=nul",
    "audience=superscript",
}
assert set(SEGMENT_PARAMS) >= UNREADABLE


@pytest.mark.parametrize("htmx", [True, False], ids=["partial", "page"])
@pytest.mark.parametrize(
    ("params", "readable"),
    [(params, case not in UNREADABLE) for case, params in SEGMENT_PARAMS.items()],
    ids=SEGMENT_PARAMS,
)
def test_contacts_page_takes_any_segment_parameters(world, root, params, readable, htmx):
    response = root.get(CONTACTS, _with_keys(world, params), headers=HTMX if htmx else {})
    html = plain(response)
    assert html.count('<div id="results"') == 1  # the partial, alone or within the page
    if readable:
        assert 'id="contact-count"' in html
        assert "These rules could not be read" not in html
    else:
        assert 'class="errornote">These rules could not be read:' in html
        assert 'id="contact-count"' not in html


@pytest.mark.parametrize("text", ANY_TEXT.values(), ids=ANY_TEXT)
@pytest.mark.parametrize("group", ["all", "none", "add", "contact", "nonsense"])
def test_label_suggestions_take_any_text(world, root, text, group):
    response = root.get(url("contacts_contact_suggest"), {"label_q": text, "group": group})
    plain(response)


@pytest.mark.parametrize("key", [*BAD_KEYS.values(), ""], ids=[*BAD_KEYS, "empty"])
@pytest.mark.parametrize("group", ["all", "any", "remove", "<script>", "\x00"])
def test_chips_of_unknown_or_malformed_keys_are_404(world, root, key, group):
    response = root.get(url("contacts_contact_chip"), {"key": key, "group": group}, headers=HTMX)
    plain(response, 404)


@pytest.mark.parametrize("group", ["all", "nonsense", "\x00", SCRIPT])
def test_chip_removal_takes_any_group(world, root, group):
    plain(root.get(url("contacts_contact_unchip"), {"group": group}, headers=HTMX))


# --- Contacts page: bulk labelling ------------------------------------------------------------

BULK = {
    "nothing": {},
    "no labels": {"selection": "all"},
    "unknown label": {"selection": "all", "add": "custom.nope"},
    "nul label": {"selection": "all", "add": "custom\x00"},
    "long label": {"selection": "all", "add": "k" * 10_000},
    "script label": {"selection": "all", "add": SCRIPT},
    "add and remove same": {"selection": "all", "add": "LABEL", "remove": "LABEL"},
    "bad selection": {"selection": "everyone", "add": "LABEL"},
    "no ticks": {"selection": "ids", "add": "LABEL"},
    "long tick": {"selection": "ids", "add": "LABEL", "contact": "c" * 65},
    "nul tick": {"selection": "ids", "add": "LABEL", "contact": "c\x00"},
    "too many ticks": {
        "selection": "ids",
        "add": "LABEL",
        "contact": [str(i) for i in range(1001)],
    },
    "bad rules": {"selection": "all", "add": "LABEL", "q": "q" * 10_000},
    "nul rules": {"selection": "all", "add": "LABEL", "all": "x\x00"},
}


@pytest.mark.parametrize("data", BULK.values(), ids=BULK)
@pytest.mark.parametrize("endpoint", ["bulk_preview", "bulk_start"])
def test_bulk_refuses_bad_requests_plainly(world, root, unchanged, data, endpoint):
    response = root.post(url(f"contacts_contact_{endpoint}"), _with_keys(world, data), headers=HTMX)
    html = plain(response, (200, 400))
    if response.status_code == 200:  # 400: Django's own limit on the number of fields
        assert "errorlist" in html or "errornote" in html
    assert not LabelJob.objects.exclude(pk=world.job.pk).exists()
    unchanged()


def test_bulk_start_double_submit_makes_two_snapshots_of_nothing_new(world, root, sandbox):
    other = Label.objects.filter(label_type=Label.Type.USER_DEFINED).exclude(pk=world.label.pk)
    data = {"selection": "all", "all": world.label.key, "add": other.first().key}
    plain(root.post(url("contacts_contact_bulk_start"), data, headers=HTMX))
    plain(root.post(url("contacts_contact_bulk_start"), data, headers=HTMX))
    jobs = LabelJob.objects.exclude(pk=world.job.pk).order_by("pk")
    assert jobs.count() == 2
    assert jobs[0].contact_ids == jobs[1].contact_ids  # the same change, idempotent in Wix


# --- Audiences: save, edit, make a Wix label --------------------------------------------------

AUDIENCE_NAMES = {
    "empty": "",
    "121 characters": "a" * 121,
    "10k": "a" * 10_000,
    "nul": "Spring\x00",
}


@pytest.mark.parametrize("name", AUDIENCE_NAMES.values(), ids=AUDIENCE_NAMES)
def test_audience_save_refuses_bad_names(world, root, unchanged, name):
    response = root.post(url("contacts_contact_save"), {"name": name, "all": world.label.key})
    assert "HX-Redirect" not in response
    plain(response, (200, 400))
    unchanged()


@pytest.mark.parametrize("name", [SCRIPT, "🎉 Spring", "'; DROP TABLE x; --"])
def test_audience_save_keeps_odd_names_as_text(world, root, name):
    response = root.post(url("contacts_contact_save"), {"name": name, "all": world.label.key})
    assert response.status_code == 200
    assert "HX-Redirect" in response
    audience = Audience.objects.get(name=name)
    assert audience.rules["all_of"] == [world.label.key]
    plain(root.get(url("contacts_audience_changelist")))


@pytest.mark.parametrize(
    "audience", ["abc", "999999", "²", "1\x00", "-1"], ids=["text", "unknown", "sup", "nul", "neg"]
)
def test_audience_save_with_a_bad_audience_id(world, root, unchanged, audience):
    """Saving into an audience that cannot exist is refused, not turned into a new audience."""
    response = root.post(
        url("contacts_contact_save"),
        {"name": "Edited", "all": world.label.key, "audience": audience},
    )
    assert response.status_code in (400, 404)
    no_raw_script(response)
    unchanged()


@pytest.mark.parametrize("name", ["", "   ", "n" * 181, "n" * 10_000, "VIP\x00", "\u202eVIP"])
@pytest.mark.parametrize("endpoint", ["wix_label_preview", "wix_label_start"])
def test_audience_wix_label_refuses_bad_names(world, root, unchanged, name, endpoint):
    response = root.post(url(f"contacts_audience_{endpoint}", world.audience.pk), {"name": name})
    assert "errorlist" in plain(response, (200, 400))
    unchanged()


@pytest.mark.parametrize("data", [{"name": ""}, {"name": "x" * 200}, {"name": "a\x00"}])
def test_audience_edit_page_refuses_bad_names(world, root, unchanged, data):
    response = root.post(url("contacts_audience_change", world.audience.pk), data)
    assert "errorlist" in plain(response)
    unchanged()


# --- The contact page: labels added and removed in place --------------------------------------

CONTACT_KEYS = {**BAD_KEYS, "empty": "", "blank": "  "}


@pytest.mark.parametrize("key", CONTACT_KEYS.values(), ids=CONTACT_KEYS)
@pytest.mark.parametrize("change", ["add", "remove"])
def test_contact_label_change_refuses_bad_keys(world, root, unchanged, key, change):
    response = root.post(url(f"contacts_contact_label_{change}", world.contact.pk), {"key": key})
    html = plain(response, (200, 400))
    assert "no longer exists" in html or "Choose a label" in html
    unchanged()


def test_contact_label_change_of_an_unknown_contact_is_404(world, root, unchanged):
    path = url("contacts_contact_label_add", 1).replace("/1/", "/999999/")
    assert root.post(path, {"key": world.label.key}).status_code == 404
    unchanged()


def test_contact_label_add_twice_is_one_label(world, root, sandbox):
    other = Label.objects.filter(label_type=Label.Type.USER_DEFINED).exclude(contacts=world.contact)
    key = other.first().key
    for _ in range(2):
        plain(root.post(url("contacts_contact_label_add", world.contact.pk), {"key": key}))
    assert ContactLabel.objects.filter(contact=world.contact, label__key=key).count() == 1
    wix = {c["id"]: c["labelKeys"] for c in sandbox.dump()["contacts"]}
    assert wix[world.contact.wix_id].count(key) == 1


@pytest.mark.parametrize("text", ANY_TEXT.values(), ids=ANY_TEXT)
def test_contact_label_suggestions_take_any_text(world, root, text):
    response = root.get(url("contacts_contact_label_suggest", world.contact.pk), {"label_q": text})
    plain(response)


# --- Export -----------------------------------------------------------------------------------


@pytest.mark.parametrize("params", SEGMENT_PARAMS.values(), ids=SEGMENT_PARAMS)
def test_export_takes_any_parameters(world, root, params):
    response = root.get(url("contacts_contact_export"), {**_with_keys(world, params), "excel": "2"})
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        body = b"".join(response.streaming_content).decode()
        assert body.startswith("First name,Last name,Email,Phone,Labels,Created,Wix contact id")
    else:
        no_raw_script(response)


# --- Sync now ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["", "everything", "FULL", "full\x00", "x" * 10_000, SCRIPT])
def test_sync_now_refuses_unknown_kinds(world, root, kind):
    runs = SyncRun.objects.count()
    response = root.post(url("sync_syncrun_sync_now"), {"kind": kind}, follow=True)
    html = plain(response)
    assert "Unknown kind of sync." in html
    assert SyncRun.objects.count() == runs


# --- The webhook ------------------------------------------------------------------------------

WEBHOOK = "/wix/webhooks/"
GARBAGE_BODIES = {
    "empty": b"",
    "blank": b"   \n",
    "text": b"hello",
    "json": b'{"data": "x"}',
    "10k": b"a" * 10_000,
    "nul": b"a.b\x00.c",
    "not utf-8": b"\xff\xfe\xfa",
    "script": SCRIPT.encode(),
}


@pytest.mark.parametrize("body", GARBAGE_BODIES.values(), ids=GARBAGE_BODIES)
def test_webhook_rejects_unsigned_bodies(world, client, settings, unchanged, body):
    settings.WIX_WEBHOOK_PUBLIC_KEY = WIX_PUBLIC_PEM
    response = client.post(WEBHOOK, body, content_type="text/plain")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("text/plain")
    unchanged()


@pytest.mark.parametrize(
    ("event_type", "entity_id", "slug", "entity"),
    [
        ("wix.contacts.v4.contact_deleted", "abc\x00def", "deleted", None),
        ("wix.contacts.v4.label_deleted", "custom.\x00", "deleted", None),
        ("wix.contacts.v4.label_created", "custom.x", "created", {"key": "custom.x\x00"}),
        ("wix.contacts.v4.label_created", "custom.x", "created", {"displayName": "no key"}),
        ("wix.contacts.v4.contact_created", "c1", "created", {"id": "c1\x00", "revision": 1}),
        ("wix.contacts.v4.contact_created", "c1", "created", {"revision": 1}),
        ("x" * 10_000, "c1", "deleted", None),
        ("wix.contacts.v4.contact_deleted", "c" * 10_000, "deleted", None),
    ],
    ids=[
        "nul contact id",
        "nul label key",
        "nul key in entity",
        "label without key",
        "nul id in entity",
        "contact without id",
        "long event type",
        "long entity id",
    ],
)
def test_webhook_refuses_signed_but_malformed_events(
    world, client, settings, unchanged, event_type, entity_id, slug, entity
):
    settings.WIX_WEBHOOK_PUBLIC_KEY = WIX_PUBLIC_PEM
    token = signed(event_type, entity_id, slug=slug, entity=entity)
    response = client.post(WEBHOOK, token, content_type="text/plain")
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("text/plain")
    unchanged()


def test_webhook_replayed_event_is_applied_once(world, client, settings):
    settings.WIX_WEBHOOK_PUBLIC_KEY = WIX_PUBLIC_PEM
    token = signed(
        "wix.contacts.v4.contact_deleted", world.contact.wix_id, slug="deleted", event_id="e1"
    )
    first = client.post(WEBHOOK, token, content_type="text/plain")
    second = client.post(WEBHOOK, token, content_type="text/plain")
    assert first.json() == {"outcome": "contact deleted"}
    assert second.json() == {"outcome": "ignored: already applied"}
    assert not Contact.objects.filter(pk=world.contact.pk).exists()


# --- Undo, exactly-once keys, search limits (the operation journal) ---------------------------


@pytest.mark.parametrize("job_id", ["999999", "99999999999999999999"])
def test_undo_of_an_unknown_job_is_404(manager, unchanged, job_id):
    path = url("labels_labeljob_undo", 1).replace("/1/", f"/{job_id}/")
    assert manager.post(path, headers=HTMX).status_code == 404
    unchanged()


def test_undo_of_a_job_that_was_undone_already_says_so(world, root, unchanged):
    html = plain(root.post(url("labels_labeljob_undo", world.job.pk), headers=HTMX))
    assert "cannot be undone" in html or "already been undone" in html
    unchanged()


@pytest.mark.parametrize("operation_id", ["999999", "99999999999999999999"])
def test_contact_undo_of_an_unknown_change_is_404(world, root, unchanged, operation_id):
    path = url("contacts_contact_label_undo", world.contact.pk, 1)
    path = path[: path.rstrip("/").rfind("/") + 1] + f"{operation_id}/"
    assert root.post(path, headers=HTMX).status_code == 404
    unchanged()


def test_contact_undo_of_another_contacts_change_is_404(world, root, unchanged):
    other = Contact.objects.exclude(pk=world.contact.pk).first()
    path = url("contacts_contact_label_undo", other.pk, world.contact_change.pk)
    assert root.post(path, headers=HTMX).status_code == 404
    unchanged()


def test_contact_undo_twice_changes_once(world, root, unchanged):
    path = url("contacts_contact_label_undo", world.contact.pk, world.contact_change.pk)
    for _ in range(2):
        assert "already been undone" in plain(root.post(path, headers=HTMX))
    unchanged()


KEYS = {
    "markup": SCRIPT,
    "too short": "abc",
    "65 characters": "k" * 65,
    "nul": "abcdefgh\x00",
    "spaces": "abcd efgh",
    "unicode": "ключключключ",
}


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS)
def test_damaged_idempotency_keys_are_refused_plainly(world, manager, unchanged, key):
    response = manager.post(
        url("labels_label_create"),
        {"display_name": "Keyed", "idempotency_key": key},
        headers=HTMX,
    )
    assert response.status_code == 400
    assert "This form is damaged" in plain(response, 400)
    unchanged()


SEARCHES = {
    "nine words": (" ".join(f"w{i}" for i in range(9)), "at most 8 different words"),
    "long word": ("x" * 81, "at most 80 characters"),
    "201 characters": ("a " * 100 + "b", "at most 200 characters"),
}


@pytest.mark.parametrize(("text", "message"), SEARCHES.values(), ids=SEARCHES)
def test_search_limits_get_a_plain_message(world, root, text, message):
    html = plain(root.get(CONTACTS, {"q": text}, headers=HTMX), (200, 400))
    assert message in html
