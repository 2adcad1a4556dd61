"""The retry policy of OSS calls (tenacity): bounded attempts, exponential backoff with jitter,
transient errors only (``osserrors``: 5xx, throttling, transport errors, unreadable answers).

The wait before attempt ``n + 1`` is ``min(maximum, initial * 2 ** (n - 1))``, jittered down to no less
than half of it, so the total wait of a call never exceeds ``max_wait`` (the sum of the unjittered
waits). Two policies:

- ``LISTING`` (input discovery: a read): 3 attempts, 0.5 s then 1 s (at most 1.5 s of waiting).
- ``STATE`` (the remote state's object calls): 8 attempts, 0.1 s doubling, each wait at most 2 s:
  at most 7.1 s of waiting per call. The lease's renewal is one such call: it counts its validity
  from the moment it started (``statefile.lease``), so a renewal retried to the end can only make
  the holder's gate close sooner, never later; the bound keeps a renewal that cannot land from
  holding up the heartbeat thread (which also watches for a revocation) for long: its waits stay
  well inside the margin of the default lease (7.1 s < 15 s).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from specrunner.core.errors import BackendError

T = TypeVar("T")


def _transient(e: BaseException) -> bool:
    return isinstance(e, BackendError) and e.transient


@dataclass(frozen=True)
class OssRetry:
    attempts: int
    initial: float  # seconds before the 2nd attempt, doubled for each next one
    maximum: float  # no single wait is longer
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.initial < 0 or self.maximum < 0:
            raise ValueError(f"bad retry policy {self}")

    def delay(self, attempt: int) -> float:
        """The wait after attempt ``attempt`` failed, before jitter (its upper bound)."""
        return min(self.maximum, self.initial * 2.0 ** (attempt - 1))

    @property
    def max_wait(self) -> float:
        """The longest a call waits between its attempts, in all."""
        return sum(self.delay(n) for n in range(1, self.attempts))

    def retrying(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> Retrying:
        def wait(state: RetryCallState) -> float:
            d = self.delay(state.attempt_number)
            return d * (0.5 + rand() / 2) if self.jitter else d

        return Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait,
            retry=retry_if_exception(_transient),
            sleep=sleep,
            reraise=True,
        )

    def call(
        self,
        fn: Callable[[], T],
        translate: Callable[[Exception], BackendError],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """``fn()``; whatever it raises becomes ``translate(e)`` (the one error map, ``osserrors``),
        retried while transient. Raises the last attempt's error, the SDK's exception not chained to
        it (its text may carry what the server echoed: never shown)."""

        def once() -> T:
            try:
                return fn()
            except Exception as e:
                raise translate(e) from None

        return self.retrying(sleep=sleep)(once)


LISTING = OssRetry(attempts=3, initial=0.5, maximum=8.0)
STATE = OssRetry(attempts=8, initial=0.1, maximum=2.0)
