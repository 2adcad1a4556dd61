"""The refresh's listing calls: paced within a rate across threads, and their time in flight measured.

``Pace`` spaces calls at most ``rate`` per second (each call waits for its own slot, so a burst of
threads never exceeds OSS's rate); ``InFlight`` is the wall time during which at least one call was in
flight, what ``bench/refresh.py`` takes out of a plan's time as the listing round trips.
"""

from __future__ import annotations

import threading
import time


class Pace:
    """At most ``rate`` calls per second across threads: each call waits for its own slot."""

    def __init__(self, rate: float) -> None:
        self.step = 1.0 / rate
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next)
            self.next = slot + self.step
        if slot > now:
            time.sleep(slot - now)


class InFlight:
    """The wall time during which at least one listing call was in flight (across threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.n = 0
        self.since = self.seconds = 0.0

    def __enter__(self) -> None:
        with self.lock:
            if not self.n:
                self.since = time.perf_counter()
            self.n += 1

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.n -= 1
            if not self.n:
                self.seconds += time.perf_counter() - self.since
