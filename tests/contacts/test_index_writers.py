"""The label index against the membership table after writes made by labelsite's real writers:
the sync (full and incremental, after changes made in Wix), Wix's signed webhooks posted to the
endpoint, bulk label jobs (an audience's change, a merge) and undo.

Each example starts from a cache synced from the sandbox, with this process's index built and
current, makes its writes, and then asks random audiences every question the index answers
(count, the first two pages in every order, the bulk selection, the export) twice: of the index,
and of the database (inside `transaction.atomic()` the index steps aside). The answers must be
the same, the rebuild check must find nothing, and the index must have kept up from the change
log alone (one build per test)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from contacts import selectors
from contacts.segments import SegmentRules
from contacts.selectors import (
    contact_count_and_page_for_segment,
    contact_count_for_segment,
    contact_page_for_segment,
    contact_rows_for_export,
    contact_wix_ids_for_change,
)
from contacts.services import contact_label_add, contact_label_remove, contacts_label_bulk_start
from journal.models import Operation
from journal.undo import UndoRefused, operation_undo
from labels.services import label_delete, label_merge
from sync.models import SyncRun, WebhookEvent
from sync.service import sync_wix
from tests.contacts.test_segments import SORTS
from tests.fixtures.cache import assert_cache_equals_wix
from tests.fixtures.users import make_user
from tests.fixtures.webhooks import post_webhook
from wixcache import index as index_module
from wixcache.index import index_check, label_index
from wixcache.models import Contact, Label

pytestmark = pytest.mark.django_db(transaction=True)

CONTACTS, LABELS = 30, 5
WORDS = ["", "a", "an", "er", "gmail", "son"]  # the sandbox's names and emails
NOBODY = "custom.nobody"  # a key no label has: an audience naming it
# Each example is a sandbox seeded and synced and a few rounds of HTTP: few of them, and a
# failure is reported as found (shrinking one would replay hundreds of them).
EXAMPLES = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


@pytest.fixture(autouse=True)
def fresh_process():
    """Each test starts as a new process would: no bitmaps yet."""
    index_module._indexes.clear()
    yield
    index_module._indexes.clear()


@pytest.fixture
def writer(db):
    return make_user("index-writer", superuser=True)


@pytest.fixture
def site(sandbox, sync_client, wix_settings):
    """`site(seed)`: an empty cache, the sandbox seeded, a full sync, and the index current.

    The cache is emptied through the ORM (its cascades are writes the index follows too), so
    every example starts from what the sandbox holds, whatever the last one left."""
    sandbox.control("POST", "bulk-jobs/pace", {"itemsPerSecond": 0})

    def start(seed: int) -> None:
        Contact.objects.all().delete()
        Label.objects.all().delete()
        WebhookEvent.objects.all().delete()
        sandbox.reset(contacts=CONTACTS, labels=LABELS, seed=seed)
        run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)
        assert run.status == SyncRun.Status.SUCCEEDED, run.error
        assert label_index() is not None

    return start


# --- the questions, asked of the index and of the database ---------------------------------


@contextlib.contextmanager
def read_by_ids(limit: int) -> Iterator[None]:
    """Pages read by id (a limit above the audience) or by walking an order's index (0)."""
    original, selectors.BY_IDS = selectors.BY_IDS, limit
    try:
        yield
    finally:
        selectors.BY_IDS = original


def answers(rules: SegmentRules, *, per_page: int, label_id: int) -> dict:
    """Every answer an audience has: its count, the first two pages in each order, which
    contacts a bulk add or remove of `label_id` would change, and its export."""
    pages = {}
    for sort in SORTS:
        # The first page as the contacts page asks for it (with the count), the next one alone.
        count, first = contact_count_and_page_for_segment(rules=rules, per_page=per_page, sort=sort)
        shown = [count, [c.wix_id for c in first.contacts], first.has_next]
        if first.has_next:
            second = contact_page_for_segment(
                rules=rules, per_page=per_page, sort=sort, after=first.next_cursor
            )
            shown += [[c.wix_id for c in second.contacts], second.has_next]
        pages[sort] = shown
    exported = contact_rows_for_export(rules=rules, chunk_size=7)
    return {
        "count": contact_count_for_segment(rules=rules, cached=False),
        "pages": pages,
        "add": contact_wix_ids_for_change(rules=rules, add_ids=[label_id]),
        "remove": contact_wix_ids_for_change(rules=rules, remove_ids=[label_id]),
        "export": [(c.wix_id, names) for c, names in exported],
    }


def assert_index_answers_as_the_table(data) -> None:
    """Random audiences over the labels there are now: the index's answers are the table's."""
    index = label_index()
    assert index is not None
    assert index_check() == []
    assert index.rebuilds == 1  # kept up from the change log, never built again
    keys = [*sorted(Label.objects.values_list("key", flat=True)), NOBODY]
    some = st.lists(st.sampled_from(keys), max_size=2, unique=True).map(tuple)
    audiences = st.builds(
        SegmentRules,
        all_of=st.lists(st.sampled_from(keys), max_size=1).map(tuple),
        any_of=some,
        none_of=some,
        unlabeled=st.booleans(),
        search=st.sampled_from(WORDS),
    )
    label_ids = sorted(Label.objects.values_list("pk", flat=True))
    # How many contacts there are, and who holds each label: whatever a write changed shows.
    everyone = SegmentRules()

    def holders() -> dict:
        return {
            "everyone": contact_count_for_segment(rules=everyone, cached=False),
            **{pk: contact_wix_ids_for_change(rules=everyone, remove_ids=[pk]) for pk in label_ids},
        }

    have = holders()
    with transaction.atomic():
        assert have == holders()
    for rules in data.draw(st.lists(audiences, min_size=1, max_size=2), label="audiences"):
        per_page = data.draw(st.sampled_from([3, 25]), label="per_page")
        label_id = data.draw(st.sampled_from(label_ids), label="label_id")
        with read_by_ids(data.draw(st.sampled_from([0, 2000]), label="by_ids")):
            have = answers(rules, per_page=per_page, label_id=label_id)
            with transaction.atomic():
                assert label_index() is None  # the database answers
                want = answers(rules, per_page=per_page, label_id=label_id)
        assert have == want, rules
        assert have["count"] == len(have["export"])


# --- changes made in Wix (the sandbox) --------------------------------------------------------

CONTACTS_PATH, LABELS_PATH = "/contacts/v4/contacts", "/contacts/v4/labels"
wix_changes = st.lists(
    st.tuples(
        st.sampled_from(["label", "unlabel", "new contact", "delete contact", "new label"]),
        st.integers(0, 99),  # which contact (of those there are)
        st.integers(0, 99),  # which label
    ),
    min_size=1,
    max_size=8,
) | st.just([("delete label", 0, 0)])  # a whole label gone, with its memberships


def change_wix(sandbox, changes) -> None:
    """Make `changes` in the sandbox through its Wix API, as someone on the Wix site would.

    Contacts are picked from a list in an order that depends only on the changes made so far
    (the seeded ones by id, then the new ones as they were made: their ids are random), so that
    the same changes draw the same events, as Hypothesis requires."""
    contacts = sorted(contact["id"] for contact in sandbox.dump()["contacts"])
    for kind, c, lb in changes:
        dump = sandbox.dump()
        keys = sorted(label["key"] for label in dump["labels"])
        users = sorted(la["key"] for la in dump["labels"] if la["labelType"] != "SYSTEM")
        contact, key = contacts[c % len(contacts)], keys[lb % len(keys)]
        if kind == "label":
            sandbox.api("POST", f"{CONTACTS_PATH}/{contact}/labels", json={"labelKeys": [key]})
        elif kind == "unlabel":
            held = sorted(next(x["labelKeys"] for x in dump["contacts"] if x["id"] == contact))
            if held:
                gone = held[lb % len(held)]
                sandbox.api("DELETE", f"{CONTACTS_PATH}/{contact}/labels?labelKeys={gone}")
        elif kind == "new contact":
            info = {"name": {"first": f"Newton{c}"}, "labelKeys": {"items": keys[lb % 3 :: 3]}}
            made = sandbox.api("POST", CONTACTS_PATH, json={"info": info})
            contacts.append(made.json()["contact"]["id"])
        elif kind == "delete contact":
            sandbox.api("DELETE", f"{CONTACTS_PATH}/{contact}")
            contacts.remove(contact)
        elif kind == "new label":
            made = sandbox.api("POST", LABELS_PATH, json={"displayName": f"Fresh {lb}"})
            fresh = made.json()["label"]["key"]
            sandbox.api("POST", f"{CONTACTS_PATH}/{contact}/labels", json={"labelKeys": [fresh]})
        elif kind == "delete label" and users:
            sandbox.api("DELETE", f"{LABELS_PATH}/{users[lb % len(users)]}")


@EXAMPLES
@given(
    seed=st.integers(1, 3),
    changes=wix_changes,
    kind=st.sampled_from([SyncRun.Kind.FULL, SyncRun.Kind.INCREMENTAL]),
    data=st.data(),
)
def test_the_index_follows_the_sync(site, sandbox, sync_client, seed, changes, kind, data):
    site(seed)
    assert_index_answers_as_the_table(data)  # built before the writes, then kept up
    change_wix(sandbox, changes)

    run = sync_wix(kind=kind, client=sync_client)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    if kind == SyncRun.Kind.FULL:
        assert_cache_equals_wix(sandbox)  # the writes reached the table
    assert_index_answers_as_the_table(data)


@pytest.fixture
def webhooks_caught(sandbox):
    """`with webhooks_caught() as tokens:` the signed events the sandbox sends while the block
    runs, in the order it sent them."""
    tokens: list[str] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            tokens.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"

    @contextlib.contextmanager
    def catch() -> Iterator[list[str]]:
        tokens.clear()
        sandbox.control("POST", "webhooks/url", {"url": url})
        try:
            yield tokens
            flushed = sandbox.control("POST", "webhooks/flush", {"timeout": 10})
            assert flushed["failed"] == 0
        finally:
            sandbox.control("POST", "webhooks/url", {"url": None})

    yield catch
    receiver.shutdown()
    receiver.server_close()


@pytest.fixture
def sandbox_signs(sandbox, settings):
    """labelsite trusts the sandbox's signing key, as it trusts Wix's."""
    settings.WIX_WEBHOOK_PUBLIC_KEY = sandbox.session.get(
        f"{sandbox.url}/_sandbox/webhook-public-key", timeout=10
    ).text


@EXAMPLES
@given(seed=st.integers(1, 3), changes=wix_changes, data=st.data())
def test_the_index_follows_webhooks(
    client, site, sandbox, sandbox_signs, webhooks_caught, seed, changes, data
):
    site(seed)
    assert_index_answers_as_the_table(data)
    with webhooks_caught() as caught:
        change_wix(sandbox, changes)
    tokens = list(caught)
    # As sent, or late and out of order, some of them twice (Wix retries deliveries).
    order = data.draw(st.sampled_from(["sent", "shuffled"]), label="order")
    if order == "shuffled":
        tokens = data.draw(st.permutations(tokens), label="tokens")
    if tokens:  # (a change that changed nothing, such as a label given twice, sends none)
        tokens += data.draw(st.lists(st.sampled_from(tokens), max_size=3), label="replays")

    for token in tokens:
        response = post_webhook(client, token)
        assert response.status_code == 200, response.content

    if order == "sent":
        assert_cache_equals_wix(sandbox)  # the writes reached the table
    assert_index_answers_as_the_table(data)


# --- labelsite's own writes: bulk jobs and undo ----------------------------------------------


def user_labels() -> list[Label]:
    return list(Label.objects.filter(label_type=Label.Type.USER_DEFINED).order_by("key"))


def draw_rules(data) -> SegmentRules:
    keys = sorted(Label.objects.values_list("key", flat=True))
    return SegmentRules(
        any_of=tuple(data.draw(st.lists(st.sampled_from(keys), max_size=2, unique=True))),
        none_of=tuple(data.draw(st.lists(st.sampled_from(keys), max_size=1))),
        search=data.draw(st.sampled_from(WORDS)),
    )


def bulk_write(kind: str, data, *, user):
    """One bulk write of `kind`, queued; returns its journal operation's id."""
    labels = user_labels()
    if kind == "merge":
        source, target = data.draw(st.permutations(labels), label="merge")[:2]
        return label_merge(sources=[source], target=target, user=user).operation_id
    if kind == "audience":
        rules = draw_rules(data)
        add = data.draw(st.lists(st.sampled_from(labels), max_size=1), label="add")
        rest = [label for label in labels if label not in add]
        remove = data.draw(st.lists(st.sampled_from(rest), max_size=1), label="remove")
        if not add and not remove:
            add = [labels[0]]
        job = contacts_label_bulk_start(rules=rules, add=add, remove=remove, user=user)
        return job.operation_id
    raise AssertionError(kind)


@EXAMPLES
@given(
    seed=st.integers(1, 3),
    kinds=st.lists(st.sampled_from(["audience", "merge"]), min_size=1, max_size=3),
    data=st.data(),
)
def test_the_index_follows_bulk_label_jobs(
    site, sandbox, writer, run_label_jobs, seed, kinds, data
):
    site(seed)
    assert_index_answers_as_the_table(data)
    for kind in kinds:
        bulk_write(kind, data, user=writer)
        jobs = run_label_jobs()
        assert [job.status for job in jobs] == ["succeeded"] * len(jobs)
    assert_cache_equals_wix(sandbox, revisions=False)
    assert_index_answers_as_the_table(data)


@EXAMPLES
@given(
    seed=st.integers(1, 3),
    kind=st.sampled_from(["delete label", "audience", "merge", "contact add", "contact remove"]),
    again=st.booleans(),  # undo the undo as well
    data=st.data(),
)
def test_the_index_follows_undo(site, sandbox, writer, run_label_jobs, seed, kind, again, data):
    site(seed)
    labels = user_labels()
    if kind == "delete label":
        label = data.draw(st.sampled_from(labels), label="deleted")
        deletion = label_delete(label=label, expected_name=label.display_name, user=writer)
        op_id = deletion.operation_id
    elif kind in ("contact add", "contact remove"):
        contact = data.draw(st.sampled_from(list(Contact.objects.order_by("pk"))), label="who")
        held = set(contact.labels.all())
        if kind == "contact add":
            label = data.draw(st.sampled_from([la for la in labels if la not in held] or labels))
            op_id = contact_label_add(contact=contact, label=label, user=writer).pk
        else:
            label = data.draw(st.sampled_from(sorted(held, key=lambda la: la.key) or labels))
            op_id = contact_label_remove(contact=contact, label=label, user=writer).pk
    else:
        op_id = bulk_write(kind, data, user=writer)
    run_label_jobs()
    assert_index_answers_as_the_table(data)
    if not Operation.objects.get(pk=op_id).reverse:  # an audience change that changed nobody
        with pytest.raises(UndoRefused, match="cannot be undone"):
            operation_undo(op_id=op_id, user=writer)
        return

    undo = operation_undo(op_id=op_id, user=writer)
    run_label_jobs()
    assert_index_answers_as_the_table(data)
    if again:
        operation_undo(op_id=undo.pk, user=writer)
        run_label_jobs()
        assert_index_answers_as_the_table(data)
    assert_cache_equals_wix(sandbox, revisions=False)
