"""The executor's logic without a server or a clock: a fake in-memory Backend with scripted answers,
a fake clock whose sleep only records and never waits, and an in-memory state (``MemoryStore``, the
``JobStore`` protocol), all in ``tests.fakes``; the real StateStore on tmp_path where it matters.

What is pinned: apply obeys the plan's action alone (``poll`` is queried, never submitted; ``recover``
is looked up by its intent tag, adopted when found, else submitted once with that same tag;
``create`` submits once and records the job id), a permanent failure is recorded as failed, and a
transient error is retried (backoff through the injected sleep, same tag) until it succeeds.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from specrunner.apply import events as ev
from specrunner.apply.executor import Executor, Options
from specrunner.apply.ratelimit import RetryPolicy
from specrunner.apply.results import RunSummary
from specrunner.backends.base import Backend, RemoteJob
from specrunner.core.errors import PermanentBackendError, TransientBackendError
from specrunner.core.jobs import Job, expand
from specrunner.core.plan import Plan, make_plan
from specrunner.core.record import LockEntry
from specrunner.core.record import job_entry as job_record
from specrunner.statefile.state import StateStore
from specrunner.validate.manifest import check_document
from specrunner.validate.yamlload import load
from tests.fakes import FakeBackend, FakeClock, MemoryStore

MANIFEST = """
version: 1
defaults: {location: oss-cn-shanghai, input_bucket: in-b, output_bucket: out-b}
inputs: [v/a.mp4]
rules:
  - {id: poster, time: 5s, mode: sync, output: "p/{FileName}.jpg"}
  - {id: later, time: 2s, mode: async, output: "l/{FileName}.jpg"}
"""
TAG = "sr-0123456789abcdef"
SINCE = "2026-01-02T03:04:05Z"


def the_jobs() -> dict[str, Job]:
    data, marks = load(MANIFEST)
    model, diags = check_document(data, marks, "m.yaml", Path("/tmp/m.yaml"))
    assert model is not None, [d.render() for d in diags]
    return {j.rule_id: j for j in expand(model)}


def run(
    tmp_path: Path,
    backend: FakeBackend,
    priors: dict[str, LockEntry] | None = None,
    retry: RetryPolicy | None = None,
) -> tuple[Plan, RunSummary, MemoryStore, FakeClock, list[dict[str, Any]]]:
    """Plan the manifest against ``priors`` (the real planner) and apply it with the fakes."""
    store = MemoryStore(priors)
    plan = make_plan(the_jobs().values(), store.jobs)
    clock, events = FakeClock(), []
    fake: Backend = backend
    ex = Executor(
        fake,
        store,
        Options(parallelism=1, retry=retry or RetryPolicy(zero_wait=True)),
        on_event=events.append,
        sleep=clock.sleep,
    )
    return plan, ex.run(plan), store, clock, events


def actions(plan: Plan) -> dict[str, str]:
    return {c.job.rule_id if c.job else c.key: c.action for c in plan.changes}


def test_create_submits_once_and_records_the_job_id(tmp_path: Path) -> None:
    be = FakeBackend()
    plan, summary, store, _, _ = run(tmp_path, be)
    jobs = the_jobs()
    assert actions(plan) == {"poster": "create", "later": "create"}
    assert len(be.submits) == 2 and be.lookups == []
    by_request = {u: r for r, u in be.submits}
    assert len(by_request) == 2 and all(u.startswith("sr-") for u in by_request)  # one new tag each
    sync, later = store.get(jobs["poster"].key), store.get(jobs["later"].key)
    assert sync is not None and later is not None
    assert (sync.job_id, sync.state, sync.intent) == (
        summary.results[jobs["poster"].key].job_id,
        "Success",
        None,
    )
    assert sync.job_id in ("job-1", "job-2") and later.job_id in ("job-1", "job-2")
    # The async job was polled to its end; it was never submitted again.
    assert later.state == "Success" and any(later.job_id in q for q in be.queries)
    assert summary.counts()["created"] == 2 and summary.count("success") == 2


def test_every_submission_s_intent_is_durable_before_its_submit_is_sent(tmp_path: Path) -> None:
    """The write-ahead promise: at the before-submit gate of each Submit, the intent whose tag the
    Submit carries is already durable (so a crash right after the Submit finds the job by its tag)."""
    be = FakeBackend()
    _, summary, store, _, _ = run(tmp_path, be)
    assert len(be.submits) == 2 and len(store.gate_seen) == 2 and store.in_flight == 0
    for (_, user_data), durable in zip(be.submits, store.gate_seen, strict=True):
        assert user_data in durable, (user_data, durable)
    assert summary.count("success") == 2


def test_a_poll_change_is_only_queried_never_submitted(tmp_path: Path) -> None:
    jobs = the_jobs()
    be = FakeBackend()
    be.add("job-7", "Submitted")
    be.states["job-7"] = ["Submitted", "Snapshoting", "Success"]
    priors = {jobs["later"].key: job_record(jobs["later"], job_id="job-7", state="Submitted")}
    priors[jobs["poster"].key] = job_record(jobs["poster"], job_id="job-1", state="Success", count=1)
    plan, summary, store, clock, _ = run(tmp_path, be, priors)
    assert actions(plan) == {"poster": "noop", "later": "poll"}
    assert be.submits == [] and be.lookups == []
    assert be.queries == [["job-7"]] * 3
    rec = store.get(jobs["later"].key)
    assert rec is not None and (rec.job_id, rec.state) == ("job-7", "Success")
    assert summary.results[jobs["later"].key].status == "success"
    # Backing off while nothing changes, through the injected sleep: 0.2 s x 1.5, then x 1.5 again.
    assert clock.sleeps == [pytest.approx(0.3), pytest.approx(0.45)]


def interrupted(job: Job) -> dict[str, Any]:
    """The record a run killed right after its write-ahead intent leaves: a tag, no job id."""
    return job_record(job, {"tag": TAG, "since": SINCE})


def test_recover_adopts_the_job_found_by_its_tag(tmp_path: Path) -> None:
    jobs = the_jobs()
    be = FakeBackend()
    be.add("job-42", "Success", user_data=TAG)
    priors = {j.key: job_record(j, job_id="job-1", state="Success", count=1) for j in jobs.values()}
    priors[jobs["poster"].key] = interrupted(jobs["poster"])
    plan, summary, store, _, events = run(tmp_path, be, priors)
    assert actions(plan) == {"poster": "recover", "later": "noop"}
    assert be.lookups == [TAG] and be.submits == []
    rec = store.get(jobs["poster"].key)
    assert rec is not None and (rec.job_id, rec.state, rec.intent) == ("job-42", "Success", None)
    res = summary.results[jobs["poster"].key]
    assert res.adopted and res.status == "success"
    assert summary.recovered_adopted == 1 and summary.counts()["adopted"] == 1 and summary.created == 0
    assert [e.job_id for e in events if isinstance(e, ev.Adopted)] == ["job-42"]


def test_recover_submits_once_with_the_same_tag_when_the_job_is_absent(tmp_path: Path) -> None:
    jobs = the_jobs()
    be = FakeBackend()
    be.add("job-99", "Success", user_data="sr-someotherjobtag")  # another job's tag: not this one
    priors = {j.key: job_record(j, job_id="job-1", state="Success", count=1) for j in jobs.values()}
    priors[jobs["poster"].key] = interrupted(jobs["poster"])
    plan, summary, store, _, _ = run(tmp_path, be, priors)
    assert actions(plan) == {"poster": "recover", "later": "noop"}
    assert be.lookups == [TAG]
    assert [(r, u) for r, u in be.submits] == [(jobs["poster"].request, TAG)]  # the same tag, once
    rec = store.get(jobs["poster"].key)
    assert rec is not None and rec.job_id == "job-1" and rec.intent is None
    res = summary.results[jobs["poster"].key]
    assert not res.adopted and res.status == "success"
    assert summary.recovered_resubmitted == 1 and summary.counts()["resubmitted"] == 1


def test_a_permanent_failure_is_recorded_as_failed_and_not_retried(tmp_path: Path) -> None:
    jobs = the_jobs()
    be = FakeBackend()
    be.fail_submits = [PermanentBackendError("no such object", code="InvalidParameter.ResourceNotFound")]
    priors = {jobs["later"].key: job_record(jobs["later"], job_id="job-1", state="Success", count=1)}
    plan, summary, store, clock, _ = run(tmp_path, be, priors, retry=RetryPolicy())
    assert actions(plan) == {"poster": "create", "later": "noop"}
    assert len(be.submits) == 1 and clock.sleeps == []
    rec = store.get(jobs["poster"].key)
    assert rec is not None
    assert (rec.state, rec.code, rec.job_id, rec.intent) == (
        "Fail",
        "InvalidParameter.ResourceNotFound",
        None,
        None,
    )
    res = summary.results[jobs["poster"].key]
    assert (res.status, res.code) == ("fail", "InvalidParameter.ResourceNotFound")
    assert summary.counts()["failed"] == 1
    # The next plan keeps it failed (same request, permanent code): nothing to resubmit.
    assert actions(make_plan(jobs.values(), store.jobs))["poster"] == "failed"


def test_a_transient_error_is_retried_with_the_same_tag_then_succeeds(tmp_path: Path) -> None:
    jobs = the_jobs()
    be = FakeBackend()
    be.fail_submits = [TransientBackendError("busy", code="ServiceUnavailable", http_status=503)] * 2
    priors = {jobs["later"].key: job_record(jobs["later"], job_id="job-1", state="Success", count=1)}
    plan, summary, store, clock, events = run(tmp_path, be, priors, retry=RetryPolicy())
    assert actions(plan) == {"poster": "create", "later": "noop"}
    assert len(be.submits) == 3 and len({u for _, u in be.submits}) == 1  # one tag for every attempt
    # The real backoff (RetryPolicy's defaults) went through the fake sleep: nothing slept for real.
    assert len(clock.sleeps) == 2 and all(s > 0 for s in clock.sleeps)
    assert len([e for e in events if isinstance(e, ev.Retry)]) == 2
    res = summary.results[jobs["poster"].key]
    assert (res.status, res.attempts, res.job_id) == ("success", 3, "job-3")
    rec = store.get(jobs["poster"].key)
    assert rec is not None and (rec.job_id, rec.state) == ("job-3", "Success")


def test_a_lost_submit_answer_is_looked_up_by_its_tag_not_resubmitted(tmp_path: Path) -> None:
    jobs = the_jobs()
    be = FakeBackend()
    be.lose_next_answer = True
    priors = {jobs["later"].key: job_record(jobs["later"], job_id="job-1", state="Success", count=1)}
    _, summary, store, _, _ = run(tmp_path, be, priors)
    assert len(be.submits) == 1
    tag = be.submits[0][1]
    assert be.lookups == [tag]
    res = summary.results[jobs["poster"].key]
    assert res.adopted and res.status == "success" and res.job_id == "job-1"
    rec = store.get(jobs["poster"].key)
    assert rec is not None and rec.job_id == "job-1" and rec.intent is None


def test_exhausted_retries_record_the_transient_failure(tmp_path: Path) -> None:
    jobs = the_jobs()
    be = FakeBackend()
    be.fail_submits = [TransientBackendError("busy", code="ServiceUnavailable", http_status=503)] * 5
    priors = {jobs["later"].key: job_record(jobs["later"], job_id="job-1", state="Success", count=1)}
    _, summary, store, _, _ = run(tmp_path, be, priors, retry=RetryPolicy(attempts=3, zero_wait=True))
    assert len(be.submits) == 3
    rec = store.get(jobs["poster"].key)
    assert rec is not None and (rec.state, rec.code, rec.job_id) == (
        "Fail",
        "ServiceUnavailable",
        None,
    )
    assert summary.results[jobs["poster"].key].status == "fail"
    # Transient: the next plan retries it (unlike a permanent failure).
    assert actions(make_plan(jobs.values(), store.jobs))["poster"] == "retry"


class CountingBackend(FakeBackend):
    """FakeBackend that logs every call in order and the most Submits it saw in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, int]] = []  # ("submit", n-th) | ("query", number of ids)
        self.in_flight = self.most_in_flight = 0
        self._guard = threading.Lock()

    def submit(self, request: dict[str, Any], user_data: str, gate: Any = None) -> RemoteJob:
        if gate is not None:
            gate()
        with self._guard:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            threading.Event().wait(0.002)  # in flight for a moment: overlapping calls would show
            job = super().submit(request, user_data)
            self.log.append(("submit", len(self.submits)))
            return job
        finally:
            with self._guard:
                self.in_flight -= 1

    def query(self, ids: Sequence[str]) -> tuple[list[RemoteJob], list[str]]:
        self.log.append(("query", len(ids)))
        return super().query(ids)


def _many_async_jobs(n: int) -> list[Job]:
    inputs = ", ".join(f"v/c{i:03d}.mp4" for i in range(n))
    text = (
        "version: 1\ndefaults: {location: oss-cn-shanghai, input_bucket: in-b, output_bucket: out-b}\n"
        f"inputs: [{inputs}]\n"
        'rules:\n  - {id: seq, time: 0, interval: 1, num: 2, output: "s/{FileName}/{Count}.jpg"}\n'
    )
    data, marks = load(text)
    model, diags = check_document(data, marks, "m.yaml", Path("/tmp/m.yaml"))
    assert model is not None, [d.render() for d in diags]
    return expand(model)


@pytest.mark.parametrize("parallelism", [1, 4])
def test_submissions_stay_within_parallelism_and_polling_goes_on_between_them(
    tmp_path: Path, parallelism: int
) -> None:
    jobs = _many_async_jobs(40)
    store = StateStore.open(tmp_path / "m.lock.json")
    backend = CountingBackend()
    fake: Backend = backend
    opts = Options(parallelism=parallelism, poll_initial=0.0, retry=RetryPolicy(zero_wait=True))
    summary = Executor(fake, store, opts, sleep=FakeClock().sleep).run(make_plan(jobs, store.jobs))
    assert summary.counts()["succeeded"] == 40 and len(backend.submits) == 40
    assert backend.most_in_flight <= parallelism
    # Full batches of 10 were queried before the last Submit: polling did not wait for the submissions.
    last_submit = max(i for i, (kind, _) in enumerate(backend.log) if kind == "submit")
    early = [n for kind, n in backend.log[:last_submit] if kind == "query"]
    assert early and all(n == 10 for n in early)
