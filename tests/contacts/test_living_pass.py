"""A living-label pass writes every label's change in one transaction: all of them or, after a
failure half way, none (the next pass queues them all); and it reads the database as often
whatever the number of labels that changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.tasks import TaskResultStatus
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from contacts import living as living_module
from contacts.living import living_label_start, living_labels_keep, living_labels_nudge
from contacts.models import Audience, LivingLabel
from contacts.segments import SegmentRules
from contacts.tasks import keep_living_labels
from journal.models import Operation
from labels.models import LabelJob
from labels.services import label_create
from tests.fixtures.sandbox_data import wix_contacts_with
from wixcache.index import label_index

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def livings(synced, manager):
    """`n` living labels, each kept equal to ALL of one seeded label, none brought up yet."""
    data = synced(contacts=60, labels=8, seed=5)
    keys = sorted(lb["key"] for lb in data["labels"] if lb["labelType"] == "USER_DEFINED")

    def make(n: int) -> list[LivingLabel]:
        made = []
        for key in keys[:n]:
            rules = SegmentRules(all_of=(key,)).as_json()
            audience = Audience.objects.create(name=f"All of {key}", rules=rules)
            label, _ = label_create(display_name=f"Kept {key}", user=manager)
            made.append(living_label_start(audience=audience, label=label, user=manager))
        return made

    return make


def _living_ops() -> int:
    return Operation.objects.filter(kind=Operation.Kind.LIVING_LABEL, user=None).count()


def test_a_pass_that_fails_half_way_leaves_nothing_and_the_next_queues_every_label(
    livings, monkeypatch, sandbox, run_label_jobs
):
    made = livings(3)
    real, calls = living_module.label_job_start, []

    def fails_on_the_third(**kwargs):
        calls.append(kwargs)
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        return real(**kwargs)

    monkeypatch.setattr(living_module, "label_job_start", fails_on_the_third)
    with pytest.raises(RuntimeError):
        living_labels_keep(why="test")
    assert len(calls) == 3  # two labels' jobs were written before the failure...
    assert (_living_ops(), LabelJob.objects.count()) == (0, 0)  # ...and rolled back with it
    assert all((lv.entered, lv.checked_at) == (0, None) for lv in LivingLabel.objects.all())

    monkeypatch.setattr(living_module, "label_job_start", real)
    assert living_labels_keep(why="test")["changed"] == 3
    assert (_living_ops(), LabelJob.objects.count()) == (3, 3)
    run_label_jobs()
    for living in made:
        audience = SegmentRules.from_json(living.audience.rules).all_of[0]
        assert wix_contacts_with(sandbox, living.label_key) == wix_contacts_with(sandbox, audience)


def _reads(n: int, livings) -> int:
    livings(n)
    label_index()  # built beforehand: a new process's first build is not the pass's reading
    with CaptureQueriesContext(connection) as queries:
        assert living_labels_keep(why="test")["changed"] == n
    return sum(q["sql"].lstrip().upper().startswith("SELECT") for q in queries.captured_queries)


def test_a_pass_reads_as_often_for_four_changed_labels_as_for_one(livings):
    one = _reads(1, livings)
    LivingLabel.objects.all().delete()
    LabelJob.objects.all().delete()
    four = _reads(4, livings)
    assert four == one


def test_a_burst_of_changes_makes_one_pass_a_moment_later(livings, settings):
    """Wix tells a bulk change contact by contact: each webhook's write nudges, and all of them
    join one pass, `LIVING_PASS_DELAY_SECONDS` after the first."""
    settings.LIVING_PASS_DELAY_SECONDS = 2
    livings(1)
    passes = DBTaskResult.objects.filter(task_path=keep_living_labels.module_path)
    passes.delete()  # the one starting queued at once
    before = timezone.now()
    for _ in range(5):
        with transaction.atomic():
            living_labels_nudge()
    (waiting,) = passes.filter(status=TaskResultStatus.READY)
    assert (
        before + timedelta(seconds=1.5) < waiting.run_after < timezone.now() + timedelta(seconds=2)
    )
