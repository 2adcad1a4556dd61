"""Waiting on async jobs: the job ids a run waits on, queried in batches of at most 10 ids.

While submissions go on, workers query full batches only between two submissions (the rest fills up
within a round or two; a partial batch at most every ``poll_max`` seconds), so polling never slows
the Submit rate. Once every submission is done, rounds query everything, batches in parallel, backing
off while nothing changes, until every job is final, the run is stopped, or its timeout passed.

What a round learns is handed back to the run (``on_found`` / ``on_gone``): this module only decides
what to ask and when.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from specrunner.apply import events as ev
from specrunner.apply.events import Event
from specrunner.backends.base import MAX_QUERY_IDS, RemoteJob

#: One batch of ids asked: (jobs found, ids the service says do not exist); None when the call failed.
Query = Callable[[list[str]], "tuple[list[RemoteJob], list[str]] | None"]


def result(future: Future[Any]) -> Any:
    """``future.result()``, woken up every so often: a SIGINT/SIGTERM that the kernel delivered to a
    worker thread runs its Python handler only when the main thread runs bytecode, so the main thread
    never blocks on a worker without a timeout (else Ctrl-C would wait for every submission)."""
    while True:
        try:
            return future.result(timeout=0.1)
        except FutureTimeout:
            continue


class Poller:
    """The job ids a run waits on (``pending``: job id -> job key) and the rounds that query them."""

    def __init__(
        self,
        query: Query,
        on_found: Callable[[str, RemoteJob], bool],
        on_gone: Callable[[str, str], bool],
        emit: Callable[[Event], None],
        stop: threading.Event,
        sleep: Callable[[float], None],
        *,
        poll_initial: float,
        poll_max: float,
        timeout: float | None,
    ) -> None:
        self.pending: dict[str, str] = {}
        self.lock = threading.Lock()
        self._query, self._on_found, self._on_gone, self._emit = query, on_found, on_gone, emit
        self._stop, self._sleep = stop, sleep
        self.poll_initial, self.poll_max, self.timeout = poll_initial, poll_max, timeout
        self._last_partial = time.monotonic()

    def add(self, job_id: str, key: str) -> None:
        with self.lock:
            self.pending[job_id] = key

    def done(self, job_id: str) -> None:
        """``job_id`` needs no more queries (final, or gone)."""
        with self.lock:
            self.pending.pop(job_id, None)

    def round(self, pool: ThreadPoolExecutor, *, block: bool) -> bool:
        """Query every pending job once (batches of <= 10). Returns True if anything changed.
        ``block``: submissions are over, query everything now, batches in parallel."""
        with self.lock:
            ids = sorted(self.pending) if block else list(self.pending)  # during submission: oldest first
        if not block and len(ids) % MAX_QUERY_IDS:
            now = time.monotonic()
            if now - self._last_partial >= self.poll_max:
                self._last_partial = now
            else:
                ids = ids[: len(ids) - len(ids) % MAX_QUERY_IDS]
        if not ids:
            return False
        batches = [ids[i : i + MAX_QUERY_IDS] for i in range(0, len(ids), MAX_QUERY_IDS)]
        changed = False  # every batch is asked, whatever the first ones said
        if len(batches) == 1 or not block:
            for b in batches:
                changed |= self._one(b)
        else:
            for f in [pool.submit(self._one, b) for b in batches]:
                changed |= bool(result(f))
        return changed

    def _one(self, batch: list[str]) -> bool:
        answer = self._query(batch)
        if answer is None:
            return False
        found, missing = answer
        moved = False
        for remote in found:
            key = self.pending.get(remote.id)
            if key is not None and self._on_found(key, remote):
                self.done(remote.id)
                moved = True
        for jid in missing:
            key = self.pending.get(jid)
            if key is not None and self._on_gone(key, jid):
                self.done(jid)
                moved = True
        return moved

    def wait_all(self, pool: ThreadPoolExecutor) -> None:
        """Rounds until nothing is pending, the run stops or its timeout passes (backing off from
        ``poll_initial`` to ``poll_max`` while nothing changes)."""
        delay = self.poll_initial
        deadline = time.monotonic() + self.timeout if self.timeout else None
        while self.pending and not self._stop.is_set():
            if deadline and time.monotonic() > deadline:
                self._emit(ev.Timeout(pending=len(self.pending)))
                return
            changed = self.round(pool, block=True)
            self._emit(ev.Poll(pending=len(self.pending)))
            if not self.pending:
                return
            delay = self.poll_initial if changed else min(self.poll_max, delay * 1.5)
            self._stop.wait(delay) if self._sleep is time.sleep else self._sleep(delay)
