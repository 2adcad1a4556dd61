"""The suite's shared test doubles, for pure logic only (system tests use the real engine, emulator and
CLI): an in-memory MTS backend with scripted answers, a clock that never waits, and an in-memory state
(``MemoryStore``: the JobStore a run writes through; ``MemoryBackend``: a StateBackend)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from specrunner.backends.base import NOT_FOUND_GRACE, RemoteJob
from specrunner.backends.listing import Listed
from specrunner.core.errors import UncertainSubmitError
from specrunner.core.record import LockEntry
from specrunner.core.retired import Retired, retirements
from specrunner.statefile.backend import OpenRun
from specrunner.statefile.doc import StateDoc, decode_state, encode_state


class FakeBackend:
    """An in-memory MTS: scripted Submit answers, scripted states per job id, jobs found by tag."""

    name = "fake"
    uncertain_grace = 0.0  # the executor's defaults for a backend that says nothing
    not_found_grace = NOT_FOUND_GRACE

    def __init__(self) -> None:
        self.submits: list[tuple[dict[str, Any], str]] = []  # (request, user_data) of every Submit
        self.queries: list[list[str]] = []
        self.lookups: list[str] = []  # tags asked for in listing mode
        self.fail_submits: list[Exception] = []  # raised by the next Submits, in order
        self.lose_next_answer = False  # the next Submit creates its job, then its answer is lost
        self.jobs: dict[str, RemoteJob] = {}
        self.states: dict[str, list[str]] = {}  # job id -> the states the next queries answer (last stays)

    def submit(self, request: dict[str, Any], user_data: str, gate: Any = None) -> RemoteJob:
        if gate is not None:
            gate()
        self.submits.append((request, user_data))
        if self.fail_submits:
            raise self.fail_submits.pop(0)
        config = request["SnapshotConfig"]
        is_async = "Num" in config or "Interval" in config  # a sync job comes back final
        job = self.add(f"job-{len(self.submits)}", "Submitted" if is_async else "Success", user_data)
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise UncertainSubmitError("the answer was lost")
        return job

    def add(self, job_id: str, state: str, user_data: str = "") -> RemoteJob:
        job = RemoteJob(job_id, state, count=1 if state == "Success" else None, user_data=user_data)
        self.jobs[job_id] = job
        return job

    def query(self, ids: Sequence[str]) -> tuple[list[RemoteJob], list[str]]:
        self.queries.append(list(ids))
        found = []
        for i in ids:
            script = self.states.get(i) or (["Success"] if i in self.jobs else [])  # unscripted: done
            if script:
                state = script.pop(0) if len(script) > 1 else script[0]
                self.jobs[i] = RemoteJob(i, state, count=1 if state == "Success" else None)
            if i in self.jobs:
                found.append(self.jobs[i])
        return found, [i for i in ids if i not in self.jobs]

    def find_by_tag(self, tag: str, *, pipeline_id: str | None, since: datetime) -> RemoteJob | None:
        self.lookups.append(tag)
        return next((j for j in self.jobs.values() if j.user_data.endswith(tag)), None)

    def close(self) -> None:
        pass


class FakeClock:
    """Time that moves only when something sleeps: ``clock()`` reads it, ``clock.sleep(s)`` records
    the wait (polling backoff, retry backoff, the rate limiter) and moves time forward by it, never
    waiting for real."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class MemoryStore:
    """A JobStore (``statefile.backend``) in memory: what the executor writes, with a log.

    ``log`` holds ``(op, key, durable)`` per put/delete; ``gate_seen`` holds, for each
    ``before_submit`` call, the intent tags that were durable at that instant (the executor's promise:
    a submission's intent is durable before its Submit is sent)."""

    batch_intents = False
    retire_outputs = False

    def __init__(self, jobs: dict[str, LockEntry] | None = None, *, batch_intents: bool = False) -> None:
        self.doc = StateDoc("memory-lineage", 0, dict(jobs or {}))
        self._committed = dict(jobs or {})
        self._committed_retired: dict[str, Retired] = {}
        self.bytes_written = 0
        self.batch_intents = batch_intents
        self.log: list[tuple[str, str, bool]] = []
        self.durable_tags: set[str] = set()
        self._pending_tags: set[str] = set()
        self.gate_seen: list[frozenset[str]] = []
        self.in_flight = 0
        self.commits = 0
        self.closed = False

    @property
    def jobs(self) -> dict[str, LockEntry]:
        return self.doc.jobs

    def get(self, key: str) -> LockEntry | None:
        return self.doc.jobs.get(key)

    def items(self) -> Iterator[tuple[str, LockEntry]]:
        return iter(list(self.doc.jobs.items()))

    def _retire(self, key: str, record: LockEntry | None) -> None:
        gone, named = retirements(key, self.doc.jobs.get(key), record)
        for o in named:
            self.doc.retired.pop(o, None)
        if self.retire_outputs:
            self.doc.retired.update((r.object, r) for r in gone)

    def unretire(self, objects: list[str], *, durable: bool = False) -> None:
        for o in objects:
            self.doc.retired.pop(o, None)

    def put(self, key: str, record: LockEntry, *, durable: bool = False) -> None:
        self._retire(key, record)
        self.doc.jobs[key] = record
        self.log.append(("put", key, durable))
        if record.intent:
            self._pending_tags.add(record.intent["tag"])
        if durable:
            self.flush_durable()

    def delete(self, key: str, *, durable: bool = False) -> None:
        if key in self.doc.jobs:
            self._retire(key, None)
        self.doc.jobs.pop(key, None)
        self.log.append(("del", key, durable))

    def flush_durable(self) -> None:
        self.durable_tags |= self._pending_tags
        self._pending_tags = set()

    def before_submit(self) -> None:
        self.gate_seen.append(frozenset(self.durable_tags))
        self.in_flight += 1

    def submitted(self) -> None:
        self.in_flight -= 1

    def lost(self) -> str | None:
        return None

    def dirty(self) -> bool:
        return self.doc.jobs != self._committed or self.doc.retired != self._committed_retired

    def commit(self) -> bool:
        changed = self.dirty()
        if changed:
            self.doc.serial += 1
            self._committed = dict(self.doc.jobs)
            self._committed_retired = dict(self.doc.retired)
            self.commits += 1
        return changed

    def close(self) -> None:
        self.closed = True

    def existed(self) -> bool:
        return bool(self._committed)


class MemoryLock:
    def __init__(self, home: MemoryBackend, operation: str) -> None:
        self.home = home
        self.info: dict[str, Any] = {"id": f"mem-{id(self):x}", "operation": operation}
        self.stale_cleaned: dict[str, Any] | None = None

    def release(self) -> None:
        self.home.holder = None


class MemoryBackend:
    """A StateBackend (``statefile.backend``) in memory: one state, one lock, no files."""

    def __init__(self, path: Path = Path("memory.lock.json")) -> None:
        self._path = path
        self.committed: StateDoc | None = None
        self.holder: MemoryLock | None = None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def label(self) -> str:
        return f"memory:{self._path}"

    @property
    def shared(self) -> bool:
        return False

    def signature(self) -> Any:
        return None

    def read(self) -> StateDoc | None:
        c = self.committed
        return c.copy() if c is not None else None

    def open_run(self, operation: str, lock_timeout: float = 0.0, **_: Any) -> OpenRun:
        if self.holder is not None:
            raise RuntimeError(f"{self.label} is locked by {self.holder.info['operation']}")
        self.holder = MemoryLock(self, operation)
        store = MemoryStore(self.committed.jobs if self.committed else None)
        if self.committed is not None:
            store.doc.lineage, store.doc.serial = self.committed.lineage, self.committed.serial
            store.doc.retired = dict(self.committed.retired)
            store._committed_retired = dict(self.committed.retired)
        home = self
        real_commit = store.commit

        def commit() -> bool:
            changed = real_commit()
            if changed:
                home.committed = store.doc.copy()
            return changed

        store.commit = commit  # type: ignore[method-assign]
        return OpenRun(self.holder, store, self.committed is not None)

    def pull(self) -> bytes | None:
        return encode_state(self.committed) if self.committed is not None else None

    def push(self, data: bytes, source: Path, *, force: bool, lock_timeout: float) -> None:
        self.committed = decode_state(data, source)

    def repair(self, lock_timeout: float = 0.0, *, manifest: Path | None = None) -> dict[str, Any]:
        jobs = self.committed.jobs if self.committed else {}
        return {"jobs": len(jobs), "job_ids": sum(1 for e in jobs.values() if e.job_id), "skipped": 0}

    def force_unlock(self, lock_id: str) -> dict[str, Any]:
        info = self.holder.info if self.holder else {}
        self.holder = None
        return info


class FakeBucket:
    """A lister (``backends.listing.ObjectsLister``) answering from ``objects`` ((bucket, key) -> (size,
    ETag)) and counting its calls; ``fail``: every call raises it."""

    def __init__(
        self, objects: dict[tuple[str, str], tuple[int, str]], fail: Exception | None = None
    ) -> None:
        self.objects, self.fail, self.calls = objects, fail, 0

    def __call__(self, bucket: str, location: str, prefix: str, until: str | None = None) -> list[Listed]:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return [
            Listed(k, *v)
            for (b, k), v in sorted(self.objects.items())
            if b == bucket and k.startswith(prefix)
        ]
