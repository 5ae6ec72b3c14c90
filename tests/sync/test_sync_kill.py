"""A sync process killed (SIGKILL) at random points converges when run again."""

import random
import subprocess
import sys
from pathlib import Path

import pytest

from sync.models import SyncRun
from sync.service import sync_wix
from tests.fixtures.cache import assert_cache_equals_wix
from tests.fixtures.database import subprocess_env
from tests.fixtures.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_sync_killed_at_random_points_converges(sandbox, wix_settings, sync_client):
    sandbox.reset(contacts=3000, labels=15, seed=31)
    sandbox.set_faults("latency=5-10ms", seed=1)  # slow enough to be caught mid-run
    env = subprocess_env(wix_settings, SYNC_PAGE_SIZE="100")
    rng = random.Random(2026)
    kill_points = [0, rng.randint(2, 8), rng.randint(10, 20)]

    for pages in kill_points:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "sync_wix", "--full"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_until(
            lambda pages=pages, process=process: (
                SyncRun.objects.filter(status=SyncRun.Status.RUNNING, pages__gte=pages).exists()
                or process.poll() is not None
            ),
            what=f"the sync to write {pages} pages",
        )
        process.kill()
        assert process.wait() == -9, process.stderr.read()

    sandbox.set_faults("")
    run = sync_wix(kind=SyncRun.Kind.FULL, client=sync_client)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.resumed_from is not None
    assert SyncRun.objects.filter(status=SyncRun.Status.INTERRUPTED).count() == len(kill_points)
    assert_cache_equals_wix(sandbox)
