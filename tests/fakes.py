"""The suite's shared test doubles, for pure logic only (system tests use the real engine, emulator and
CLI): an in-memory MTS backend with scripted answers, and a clock that never waits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from specrunner.backends.base import RemoteJob
from specrunner.core.errors import UncertainSubmitError


class FakeBackend:
    """An in-memory MTS: scripted Submit answers, scripted states per job id, jobs found by tag."""

    name = "fake"

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
