"""The site's rate budget is one budget, whatever the number of processes: four processes (a
person's clicks, two workers, a sync) call Wix for 90 seconds against the sandbox set to Wix's
limit, and Wix never refuses one nor sees more than the budget in any 60 seconds."""

import pytest

from bench.shared_budget import CLICK_EVERY_SECONDS, run_processes, summary
from tests.fixtures.database import subprocess_env
from wixcache.budget import WINDOW_SECONDS, SiteBudget
from wixcache.models import WixRequest

SECONDS = 90
BUDGET = 200


@pytest.mark.slow
@pytest.mark.waits
@pytest.mark.django_db(transaction=True)
def test_four_processes_share_one_budget(sandbox, wix_settings):
    sandbox.reset(contacts=3000, labels=20, seed=41)
    sandbox.set_rate_limit(BUDGET)
    sandbox.reset_stats()
    env = subprocess_env(wix_settings, WIX_MAX_REQUESTS_PER_MINUTE=str(BUDGET), WIX_MAX_RETRIES="0")

    results = run_processes(env, SECONDS)
    report = summary(results, sandbox.stats(), SECONDS, BUDGET)

    assert report["wix_429"] == 0, report
    assert report["busiest_minute"] <= BUDGET, report
    assert report["wix_requests"] > BUDGET, report  # the budget was really under pressure
    # People went first: nearly every click got through at once, although the workers and the
    # sync wanted far more than the budget.
    clicks = report["requests_by_role"]["web"]
    assert clicks >= 0.8 * SECONDS / CLICK_EVERY_SECONDS * 0.9, report
    assert report["requests_by_role"]["workers"] > clicks, report


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.django_db
def test_background_work_leaves_the_reserve_to_people(monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr("wixcache.budget._now", lambda: clock.now)
    background = SiteBudget(5, interactive=False, reserve=2, sleep=clock.sleep)
    person = SiteBudget(5, interactive=True, reserve=2, sleep=clock.sleep)

    for _ in range(3):
        assert background.wait() == 0
    assert person.wait() == 0  # the reserve is theirs
    assert person.wait() == 0
    assert WixRequest.objects.count() == 5

    waited = background.wait()  # the window is full: wait for the oldest to leave it
    assert waited == pytest.approx(WINDOW_SECONDS)
    assert WixRequest.objects.filter(at__gt=clock.now - WINDOW_SECONDS).count() <= 5


@pytest.mark.django_db
def test_no_budget_means_no_bookkeeping():
    assert SiteBudget(0, interactive=False).wait() == 0
    assert not WixRequest.objects.exists()
