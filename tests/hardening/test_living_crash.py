"""A living label whose worker is killed with SIGKILL at random points (in a pass, in a job, while
Wix holds its answer back), round after round of changes in Wix: each time, once the worker is
back and the settling task and the regular pass have run, the label in Wix equals its audience
read from Wix, every living operation is done, no job failed, and the cache equals Wix."""

from __future__ import annotations

import contextlib
import random

import pytest
from django.contrib.auth.models import User

from contacts.living import living_label_start, living_pass_queue
from contacts.models import Audience, LivingLabel
from contacts.segments import SegmentRules
from journal.models import Operation
from journal.settle import operations_settle
from labels.models import LabelJob
from labels.services import label_create
from sync.models import SyncRun
from sync.service import sync_wix
from tests.fixtures.cache import assert_cache_equals_wix
from tests.fixtures.crash import Restartable
from tests.fixtures.database import subprocess_env
from tests.fixtures.sandbox_data import wix_contacts_with
from tests.fixtures.users import PASSWORD
from tests.fixtures.waiting import wait_until
from wixcache.models import Label

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.waits]

ROUNDS = 12
CONTACTS_PATH = "/contacts/v4/contacts"
ACTIVE = (LabelJob.Status.QUEUED, LabelJob.Status.RUNNING)


def _audience_in_wix(sandbox, keys: list[str]) -> set[str]:
    """ANY of keys[0], keys[1] and NONE of keys[2], read from the sandbox, not the cache."""
    a, b, c = keys[:3]
    return {
        contact["id"]
        for contact in sandbox.dump()["contacts"]
        if {a, b} & set(contact["labelKeys"]) and c not in contact["labelKeys"]
    }


def _brought_up(sandbox, sync_client, kept: str, keys: list[str], revived: list[int]) -> bool:
    """What the worker's settling task and its regular pass do, until the label is equal."""
    revived.append(operations_settle(client=sync_client)["revived"])  # jobs of a dead worker
    if LabelJob.objects.filter(status__in=ACTIVE).exists():
        return False
    if wix_contacts_with(sandbox, kept) != _audience_in_wix(sandbox, keys):
        living_pass_queue(why="the regular pass")  # a pass killed half way wrote nothing
        return False
    return True


def _after_wix_requests(sandbox, count: int) -> None:
    """Let the worker send `count` more requests to Wix (waiting at most 1.5 s): the kill lands
    at a point of its work chosen by how far it got, not by the clock of a loaded machine."""
    sent = sandbox.stats()["requests"]
    with contextlib.suppress(AssertionError):  # it had nothing more to send
        wait_until(
            lambda: sandbox.stats()["requests"] >= sent + count, timeout=1.5, what="requests"
        )


def test_a_living_label_stays_equal_through_workers_killed_at_random_points(
    sandbox, wix_settings, sync_client
):
    sandbox.reset(contacts=120, labels=6, seed=9)
    sandbox.control("POST", "bulk-jobs/pace", {"itemsPerSecond": 15})  # 5 contacts: ~0.3 s
    assert sync_wix(kind=SyncRun.Kind.FULL, client=sync_client).status == "succeeded"
    keys = sorted(
        Label.objects.filter(label_type=Label.Type.USER_DEFINED).values_list("key", flat=True)
    )
    manager = User.objects.create_superuser("living-crash", "l@example.com", PASSWORD)
    rules = SegmentRules(any_of=(keys[0], keys[1]), none_of=(keys[2],))
    audience = Audience.objects.create(name="Kept", rules=rules.as_json(), created_by=manager)
    label, _created = label_create(display_name="Kept alive", user=manager)
    assert _audience_in_wix(sandbox, keys)  # not empty: the comparisons below can fail

    worker = Restartable(
        ["db_worker", "--interval", "0.1", "--no-reload", "--no-startup-delay"],
        subprocess_env(wix_settings, OPERATION_SETTLE_INTERVAL_SECONDS="0"),
    )
    worker.start()
    rng = random.Random(2026)
    contacts = sorted(c["id"] for c in sandbox.dump()["contacts"])
    sandbox.set_faults("latency=5-30ms,late_answers=20-150ms", seed=5)
    killed_in_a_job, revived = 0, []
    try:
        living_label_start(audience=audience, label=label, user=manager)  # the first pass
        for round_number in range(ROUNDS):
            if round_number:  # a few contacts change in Wix; the sync brings them here
                for contact in rng.sample(contacts, 12):
                    key = rng.choice(keys[:3])
                    method = rng.choice(["POST", "DELETE"])
                    if method == "POST":
                        body = {"json": {"labelKeys": [key]}}
                    else:
                        body = {"params": {"labelKeys": key}}
                    sandbox.api(method, f"{CONTACTS_PATH}/{contact}/labels", **body)
                assert sync_wix(kind="incremental", client=sync_client).status == "succeeded"
            if round_number % 2 == 0:  # in a living job, at a random point of it
                running = LabelJob.objects.filter(
                    kind=LabelJob.Kind.LIVING, status=LabelJob.Status.RUNNING
                ).exists
                # (Or the round's change was over before a job could be caught running.)
                with contextlib.suppress(AssertionError):
                    wait_until(running, timeout=20, what="a living job under way")
                _after_wix_requests(sandbox, rng.randint(0, 2))
                killed_in_a_job += running()
            else:  # anywhere: in the pass, between tasks, in a job
                _after_wix_requests(sandbox, rng.randint(1, 4))
            worker.kill()
            worker.start()
            wait_until(
                lambda: _brought_up(sandbox, sync_client, label.key, keys, revived),
                timeout=90,
                what="the living label to equal its audience again",
            )
            assert wix_contacts_with(sandbox, label.key) == _audience_in_wix(sandbox, keys)
            assert_cache_equals_wix(sandbox, revisions=False)
    finally:
        sandbox.set_faults("")
        worker.stop()

    print(f"{killed_in_a_job} kills in a living job, {sum(revived)} jobs revived")
    assert killed_in_a_job >= 3
    assert sum(revived) >= 2  # jobs whose worker was killed went on, and ended well
    living_ops = Operation.objects.filter(kind=Operation.Kind.LIVING_LABEL)
    assert living_ops.count() >= ROUNDS // 2  # changes were queued, round after round
    assert set(living_ops.values_list("state", flat=True)) == {Operation.State.DONE}
    jobs = LabelJob.objects.filter(kind=LabelJob.Kind.LIVING)
    assert set(jobs.values_list("status", flat=True)) == {LabelJob.Status.SUCCEEDED}
    assert LivingLabel.objects.get().entered > 0
