import itertools
import random
import threading

import pytest

from labelsite.wix.pacing import Pacer, backoff_delay, parse_retry_after


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_pacer_spaces_requests_evenly():
    fake = FakeTime()
    pacer = Pacer(200, clock=fake.clock, sleep=fake.sleep)
    sent_at = []
    for _ in range(5):
        pacer.wait()
        sent_at.append(fake.now)

    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert gaps == pytest.approx([0.3] * 4)
    assert fake.sleeps == pytest.approx([0.3] * 4)


def test_pacer_does_not_sleep_when_the_caller_is_slower_than_the_pace():
    fake = FakeTime()
    pacer = Pacer(60, clock=fake.clock, sleep=fake.sleep)
    pacer.wait()
    fake.now += 5  # the caller spent 5 s doing other things
    assert pacer.wait() == 0
    fake.now += 0.25
    assert pacer.wait() == pytest.approx(0.75)
    assert fake.sleeps == pytest.approx([0.75])


def test_pacer_with_zero_per_minute_never_sleeps():
    fake = FakeTime()
    pacer = Pacer(0, clock=fake.clock, sleep=fake.sleep)
    assert [pacer.wait() for _ in range(50)] == [0.0] * 50
    assert fake.sleeps == []


def test_pacer_gives_each_thread_its_own_slot():
    delays: list[float] = []
    lock = threading.Lock()
    pacer = Pacer(120, clock=lambda: 0.0, sleep=lambda _seconds: None)

    def worker() -> None:
        delay = pacer.wait()
        with lock:
            delays.append(delay)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(delays) == pytest.approx([i * 0.5 for i in range(20)])


@pytest.mark.parametrize("attempt", range(1, 12))
def test_backoff_is_full_jitter_within_the_capped_exponential(attempt):
    rng = random.Random(attempt)
    ceiling = min(4.0, 0.5 * 2 ** (attempt - 1))
    delays = [backoff_delay(attempt, base=0.5, cap=4.0, rng=rng) for _ in range(2000)]

    assert all(0 <= d <= ceiling for d in delays)
    # Full jitter spreads over the whole range, not just near the top.
    assert min(delays) < 0.05 * ceiling
    assert max(delays) > 0.95 * ceiling


def test_backoff_honours_retry_after_up_to_the_cap():
    assert backoff_delay(1, base=0.5, cap=30, retry_after=7) == 7
    assert backoff_delay(3, base=0.5, cap=30, retry_after=0) == 0
    assert backoff_delay(1, base=0.5, cap=2, retry_after=60) == 2


def test_parse_retry_after():
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 12 ") == 12.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:09 GMT", now=now) == 9.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
