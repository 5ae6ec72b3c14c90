"""A sync process killed (SIGKILL) at random points converges when run again."""

import random

import pytest

from sync.models import SyncRun
from sync.service import sync_wix
from tests.fixtures.cache import assert_cache_equals_wix
from tests.fixtures.database import subprocess_env
from tests.fixtures.processes import kill_full_syncs


@pytest.mark.django_db(transaction=True)
def test_sync_killed_at_random_points_converges(sandbox, wix_settings, sync_client):
    sandbox.reset(contacts=3000, labels=15, seed=31)
    sandbox.set_faults("latency=5-10ms", seed=1)  # slow enough to be caught mid-run
    env = subprocess_env(wix_settings, SYNC_PAGE_SIZE="100")
    rng = random.Random(2026)
    kill_points = [0, rng.randint(2, 8), rng.randint(10, 20)]

    kill_full_syncs(env, kill_points)

    sandbox.set_faults("")
    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.resumed_from is not None
    assert SyncRun.objects.filter(status=SyncRun.Status.INTERRUPTED).count() == len(kill_points)
    assert_cache_equals_wix(sandbox)
