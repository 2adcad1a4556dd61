"""The emulator's injected faults: one declared, typed configuration that the request handlers consult.

- ``latency_ms``: every request (MTS and OSS) waits this long before it is served;
- ``throttle_submit_qps`` / ``throttle_query_qps``: SubmitSnapshotJob / QuerySnapshotJobList above this
  rate answer ``Throttling.User`` (a non-blocking token bucket per action; ``None`` or 0: no limit);
- ``error_rate``: the fraction of MTS actions answered 500 ``InternalError`` or 503
  ``ServiceUnavailable`` (half each) before anything is done;
- ``drop_rate``: the fraction of Submits whose job is created, then the connection closed without an
  answer;
- ``oss_error_rate``: the fraction of OSS object calls answered 503 ``ServiceUnavailable`` before
  anything is done;
- ``oss_drop_rate``: the fraction of OSS object writes (PUT, POST, DELETE) done, then the connection
  closed without an answer;
- ``deny_list``: buckets whose ListObjectsV2 answers 403 ``AccessDenied`` (a caller without
  ``oss:ListObjects`` on them);
- ``delete_deny``: ``bucket/prefix`` names whose objects cannot be deleted (a RAM policy denying
  ``oss:DeleteObject`` there): DeleteObject answers 403 ``AccessDenied``, DeleteMultipleObjects lists
  them as not deleted.

- ``answer_error``: ``(code, HTTP status)``: every MTS action is answered with this error (the
  conformance corpus serves each documented code through it);
- ``job_code``: every job is answered failed (``State: Fail``) with this code, in the answer style's
  spelling (bare in ``documented-2021``).

Invariants: every draw comes from one ``random.Random(seed)`` under a lock, and a rate of 0 draws
nothing, so a seed replays the same faults for the same requests. The knobs are read at each request:
a test may turn a fault on and off while the emulator runs (a changed throttle starts a full bucket).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

RATES = ("error_rate", "drop_rate", "oss_error_rate", "oss_drop_rate")


class RateLimiter:
    """A non-blocking token bucket: ``try_acquire()`` is False when over the limit."""

    def __init__(self, qps: float) -> None:
        self.rate = float(qps)
        self.capacity = max(1.0, self.rate)
        self._tokens = self.capacity
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


@dataclass
class Faults:
    """The fault knobs (all off by default); ``seed`` seeds the draws once, at creation."""

    latency_ms: float = 0.0
    throttle_submit_qps: float | None = None
    throttle_query_qps: float | None = None
    error_rate: float = 0.0
    drop_rate: float = 0.0
    oss_error_rate: float = 0.0
    oss_drop_rate: float = 0.0
    deny_list: frozenset[str] = frozenset()
    delete_deny: frozenset[str] = frozenset()
    seed: int | None = None
    answer_error: tuple[str, int] | None = None
    job_code: str | None = None
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)
    _limiters: dict[str, RateLimiter] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        for name in RATES:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def deletes_denied(self, bucket: str, key: str) -> bool:
        """``bucket/key`` is under a ``delete_deny`` prefix."""
        name = f"{bucket}/{key}"
        return any(name.startswith(prefix) for prefix in self.delete_deny)

    def delay(self) -> None:
        """The added latency of one request."""
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000.0)

    def chance(self, rate: float) -> bool:
        """True with probability ``rate`` (no draw at all when ``rate`` is 0)."""
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def admit(self, action: str) -> bool:
        """False when ``action`` is over its throttle; otherwise it takes one token (if throttled)."""
        qps = {
            "SubmitSnapshotJob": self.throttle_submit_qps,
            "QuerySnapshotJobList": self.throttle_query_qps,
        }.get(action)
        if not qps:
            return True
        with self._lock:
            limiter = self._limiters.get(action)
            if limiter is None or limiter.rate != float(qps):
                limiter = self._limiters[action] = RateLimiter(qps)
        return limiter.try_acquire()
