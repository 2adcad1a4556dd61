"""Client-side rate limiting and retry policy.

Two separate limits, as the service has: a worker limit (``--parallelism``, a thread pool) and a
token bucket per action at the account's QPS (Submit 50/s, Query 100/s by default). A throttling
answer halves the bucket's rate for a while; it recovers additively (AIMD), so a run converges on
what the account really allows and nothing is lost.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    wait_none,
    wait_random_exponential,
)

from specrunner.core.errors import TransientBackendError


class TokenBucket:
    """A thread-safe token bucket. ``acquire()`` blocks until a token is available."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_rate = float(rate)
        self.rate = float(rate)
        self.capacity = burst if burst is not None else max(1.0, rate / 10)
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()
        self.throttled = 0
        self.acquired = 0
        self._penalized_at: float | None = None

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        if self.rate < self.max_rate:  # additive recovery: +5% of the max per second
            self.rate = min(self.max_rate, self.rate + elapsed * self.max_rate * 0.05)

    def acquire(self) -> float:
        """Take a token, or reserve the next one and sleep once until it is due.

        Reserving (the balance goes negative) gives every waiter its own slot: N threads waiting on
        an empty bucket sleep once each, instead of all waking for every token and all but one
        going back to sleep (a thundering herd: ~N wake-ups per token).

        Returns when the slot was reserved (on this bucket's clock), i.e. at which rate the request
        was paced: pass it to :meth:`penalize` if the answer is a throttling error.
        """
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens -= 1
            self.acquired += 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return now

    def penalize(self, sent_at: float | None = None) -> None:
        """The service said Throttling: halve the rate (not below 1% of the max) and drain the bucket.

        One congestion event halves the rate once, as TCP does: a throttling answer to a request
        paced before the last halving (``sent_at``, what :meth:`acquire` returned: in flight, or
        waiting for a slot reserved at the old rate) is counted but does not cut the rate again. Otherwise 8
        workers throttled at once cut the rate 256-fold, to the 1% floor, and the run crawls long
        after the account recovered. Without ``sent_at`` every answer counts.
        """
        with self._lock:
            self.throttled += 1
            now = self._clock()
            if sent_at is not None and self._penalized_at is not None and sent_at < self._penalized_at:
                return
            self._penalized_at = now
            self._refill(now)
            self.rate = max(self.max_rate * 0.01, self.rate / 2)
            self._tokens = min(self._tokens, 0.0)


T = TypeVar("T")


def metered(bucket: TokenBucket | None, call: Callable[[], T]) -> T:
    """Make one call under ``bucket``: take a token first; a throttling answer slows the bucket down.

    The one place where "take a token, slow down when throttled" is written; the error is re-raised
    for the retry policy to decide on.
    """
    sent_at = bucket.acquire() if bucket is not None else None
    try:
        return call()
    except TransientBackendError as e:
        if e.throttled and bucket is not None:
            bucket.penalize(sent_at)
        raise


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries on transient errors only, with jittered exponential backoff."""

    attempts: int = 8
    initial: float = 0.5
    maximum: float = 20.0
    zero_wait: bool = False  # tests: retry at once, never sleep

    unreachable_attempts: int = 3  # connection refused / DNS: the endpoint is wrong more often than down

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.attempts:
            return True
        exc = state.outcome.exception() if state.outcome else None
        return (
            getattr(exc, "code", "") == "EndpointUnreachable"
            and state.attempt_number >= self.unreachable_attempts
        )

    def retrying(self, on_retry: Callable[[RetryCallState], None] | None = None) -> Retrying:
        return Retrying(
            stop=self._stop,
            wait=wait_none()
            if self.zero_wait
            else wait_random_exponential(multiplier=self.initial, max=self.maximum),
            retry=retry_if_exception(lambda e: isinstance(e, TransientBackendError)),
            before_sleep=on_retry,
            reraise=True,
        )


def jitter(seconds: float) -> float:
    return seconds * (0.5 + random.random() / 2)


def call_with_retry(
    policy: RetryPolicy,
    bucket: TokenBucket | None,
    fn: Callable[[], Any],
    *,
    stop: threading.Event,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[BaseException | None], None] | None = None,
) -> Any:
    """``fn`` metered by ``bucket``, retried as ``policy`` says (transient errors only).

    The first attempt runs before any retry machinery: most calls succeed at once. A failure is
    handed to the policy as its first attempt's outcome (replayed, not re-run), so what follows (stop,
    backoff, ``on_retry``, re-raise) is exactly the policy's. Once ``stop`` is set there is no new
    attempt and no backoff sleep: in-flight calls end within seconds. An injected ``sleep`` (tests: a
    fake clock) takes the backoff; the real one waits on ``stop``, so an interrupt cuts it short."""
    try:
        return metered(bucket, fn)
    except Exception as e:
        first: Exception | None = e

    def again() -> Any:
        nonlocal first
        if first is not None:
            exc, first = first, None
            raise exc
        return metered(bucket, fn)

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None:
            on_retry(state.outcome.exception() if state.outcome else None)

    retrying = policy.retrying(before_sleep)
    stop_rule = retrying.stop
    retrying.stop = lambda state: stop.is_set() or stop_rule(state)
    if sleep is time.sleep:

        def interruptible(seconds: float) -> None:
            stop.wait(seconds)

        retrying.sleep = interruptible
    else:
        retrying.sleep = sleep
    for attempt in retrying:
        with attempt:
            return again()
    raise AssertionError("unreachable")  # pragma: no cover
