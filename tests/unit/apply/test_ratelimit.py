"""The token bucket and the retry policy as pure logic: a fake clock, nothing sleeps for real."""

from __future__ import annotations

import pytest

from specrunner.apply.ratelimit import RetryPolicy, TokenBucket
from specrunner.core.errors import TransientBackendError
from tests.fakes import FakeClock


def bucket(rate: float, clock: FakeClock, burst: float | None = None) -> TokenBucket:
    return TokenBucket(rate, burst=burst, clock=clock, sleep=clock.sleep)


def test_the_burst_is_free_then_tokens_come_at_the_rate() -> None:
    clock = FakeClock()
    b = bucket(10, clock, burst=2)
    b.acquire()
    b.acquire()
    assert clock.sleeps == []
    for _ in range(10):
        b.acquire()
    # 10 more tokens at 10/s: one second of waiting in all, one sleep per token
    assert len(clock.sleeps) == 10
    assert sum(clock.sleeps) == pytest.approx(1.0)


def test_waiters_reserve_their_own_slot_instead_of_all_waking_per_token() -> None:
    clock = FakeClock()
    b = bucket(4, clock, burst=1)
    b.acquire()
    # three callers arriving at the same instant (no time passes between them): each is told a
    # different, increasing wait, so they sleep once each
    waits: list[float] = []
    b._sleep = waits.append
    for _ in range(3):
        b.acquire()
    assert waits == pytest.approx([0.25, 0.5, 0.75])


def test_a_burst_of_throttling_answers_halves_the_rate_once() -> None:
    clock = FakeClock()
    b = bucket(50, clock, burst=8)
    sent = [b.acquire() for _ in range(8)]  # eight requests in flight...
    clock.now += 0.05
    for t in sent:  # ...all refused together: one congestion event
        b.penalize(t)
    assert b.throttled == 8
    assert b.rate == pytest.approx(25, rel=0.01)
    later = b.acquire()  # a request sent after the cut, refused too: a new event, halves again
    clock.now += 0.05
    b.penalize(later)
    assert b.rate == pytest.approx(12.5, rel=0.02)
    b.penalize()  # no send time: always counts
    assert b.rate == pytest.approx(6.25, rel=0.02)


def test_the_rate_never_drops_below_one_percent_and_recovers_additively() -> None:
    clock = FakeClock()
    b = bucket(100, clock)
    for _ in range(20):
        b.penalize()
    assert b.rate == pytest.approx(1.0)
    clock.now += 10  # +5% of the max per second: 10 s -> +50
    b.acquire()
    assert 45 < b.rate <= 60
    clock.now += 60
    b.acquire()
    assert b.rate == 100


def test_retry_policy_retries_transient_errors_only_and_stops() -> None:
    policy = RetryPolicy(attempts=4, zero_wait=True)
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientBackendError("slow down", code="Throttling")
        return "ok"

    for attempt in policy.retrying():
        with attempt:
            result = flaky()
    assert result == "ok" and len(calls) == 3

    calls.clear()
    with pytest.raises(TransientBackendError):
        for attempt in policy.retrying():
            with attempt:
                calls.append(1)
                raise TransientBackendError("5xx", code="ServiceUnavailable")
    assert len(calls) == 4

    calls.clear()
    with pytest.raises(ValueError):
        for attempt in policy.retrying():
            with attempt:
                calls.append(1)
                raise ValueError("not transient")
    assert len(calls) == 1
