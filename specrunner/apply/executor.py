"""Apply: carry out a plan against a backend, idempotently and exactly once.

- Every Submit is preceded by a durable *intent* (job key, a unique tag, the time) in the state
  journal, and the tag travels in the job's UserData. A Submit whose answer was lost, or an intent
  left by a crashed run, is resolved by looking the tag up (QuerySnapshotJobList listing mode)
  before anything is resubmitted.
- The job id of every submitted job is durable in the state before the run waits on it.
- Continue on error: one failed job never stops the others.
- Async jobs are polled in batches of at most 10 ids, backing off while nothing changes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from specrunner.apply import events as ev
from specrunner.apply.events import Event
from specrunner.apply.lookup import lookup_by_tag
from specrunner.apply.outcomes import (
    ObjectLister,
    compose_user_data,
    new_tag,
    now_iso,
    outcome_record,
    parse_iso,
)
from specrunner.apply.polling import Poller, result
from specrunner.apply.ratelimit import RetryPolicy, TokenBucket, call_with_retry, metered
from specrunner.apply.results import JobResult, RunSummary
from specrunner.backends.base import Backend, RemoteJob
from specrunner.core.errors import (
    BackendError,
    CredentialsError,
    LeaseLost,
    PermanentBackendError,
    StateWriteError,
    TransientBackendError,
    UncertainSubmitError,
)
from specrunner.core.jobs import Job
from specrunner.core.jobstates import FINAL_STATES
from specrunner.core.plan import Change, Plan
from specrunner.core.record import LockEntry, job_entry
from specrunner.statefile.backend import JobStore

FATAL_CODES = frozenset({"EndpointUnreachable"})


def _unwatched(event: Event) -> None:
    """The listener of a run nobody watches: per-job events are not even made for it."""


@dataclass
class Options:
    parallelism: int = 10
    wait: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    poll_initial: float = 0.2
    poll_max: float = 5.0
    timeout: float | None = None  # stop waiting on async jobs after this many seconds


class Executor:
    def __init__(
        self,
        backend: Backend,
        store: JobStore,
        options: Options,
        *,
        submit_bucket: TokenBucket | None = None,
        query_bucket: TokenBucket | None = None,
        on_event: Callable[[Event], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        lister: ObjectLister | None = None,
    ) -> None:
        self.backend = backend
        # Lists a finished job's output prefix when its answer gave no Count (``outcomes``).
        self.lister = lister
        self.store = store
        self.opt = options
        self.submit_bucket = submit_bucket
        self.query_bucket = query_bucket
        self.on_event = on_event or _unwatched
        self.stop = threading.Event()
        self._sleep = sleep
        self._summary = RunSummary()
        self._lock = threading.Lock()
        self._poller = Poller(
            self._query,
            self._found,
            self._gone,
            self._emit,
            self.stop,
            sleep,
            poll_initial=options.poll_initial,
            poll_max=options.poll_max,
            timeout=options.timeout,
        )
        self._jobs: dict[str, Job] = {}
        self.allow_submit = True  # refresh: look interrupted submissions up, never submit
        self.input_etags: Mapping[str, str | None] = {}  # job key -> its input's ETag at submission
        self.fatal: BackendError | None = None  # set when the run had to stop (credentials, unreachable)
        self.lease_lost: LeaseLost | None = None  # set when the state's lock was lost: nothing more sent
        # A store whose durable write is a round trip (remote state) gets the intents of the next
        # submissions written ahead, many per durable write; each Submit still follows its own.
        self._pre: dict[str, dict[str, str]] = {}
        # After an uncertain Submit, a lookup miss counts only after the backend's read timeout.
        self.uncertain_grace = 0.0 if options.retry.zero_wait else float(backend.uncertain_grace)
        self.not_found_grace = float(backend.not_found_grace)

    # ------------------------------------------------------------------ helpers

    def _emit(self, event: Event) -> None:
        try:
            self.on_event(event)
        except Exception:  # pragma: no cover - progress display must never break a run
            pass

    def _call(
        self, bucket: TokenBucket | None, fn: Callable[[], Any], result: JobResult | None = None
    ) -> Any:
        """``fn`` metered by ``bucket`` under the run's retry policy; stops retrying once the run stops."""

        def on_retry(error: BaseException | None) -> None:
            self._emit(ev.Retry(key=result.key if result else None, error=str(error)))

        return call_with_retry(
            self.opt.retry, bucket, fn, stop=self.stop, sleep=self._sleep, on_retry=on_retry
        )

    def _record(self, job: Job, prior_intent: Mapping[str, str] | None = None, **fields: Any) -> LockEntry:
        return job_entry(job, prior_intent, input_etag=self._input_etag(job), **fields)

    def _outcome(self, job: Job, remote: RemoteJob) -> LockEntry:
        return outcome_record(job, remote, self.lister).evolve(input_etag=self._input_etag(job))

    def _input_etag(self, job: Job) -> str | None:
        """The input's ETag when this run submitted the job (None: unknown), else its record's (polled)."""
        cur = self.store.get(job.key) if job.key not in self.input_etags else None
        return self.input_etags.get(job.key) or (cur.input_etag if cur is not None else None)

    # ------------------------------------------------------------------ run

    def run(self, plan: Plan) -> RunSummary:
        started = time.monotonic()
        summary = self._summary
        for change in plan.changes:
            summary.results[change.key] = JobResult(change.key, change.action, change.mode)
            if change.job is not None:
                self._jobs[change.key] = change.job
        for change in plan.by_action("forget"):
            self.store.delete(change.key)
            summary.results[change.key].status = "forgotten"
        for change in plan.by_action("noop"):
            summary.results[change.key].status = "unchanged"
        for change in plan.by_action("moved"):  # renamed in the state before the run (ops.execute)
            summary.results[change.key].status = "moved"
        for change in plan.by_action("failed"):  # failed for good with this request: not resubmitted
            res = summary.results[change.key]
            res.status = "kept_failed"
            prior = change.prior
            if prior is not None:  # what the job still is: the run reports it (and exits 3)
                res.job_id, res.code, res.message = prior.job_id, prior.code, prior.message
        for change in plan.by_action("poll"):
            assert change.prior is not None and change.prior.job_id is not None  # what "poll" means
            job_id = change.prior.job_id
            res = summary.results[change.key]
            res.job_id = job_id
            res.started = time.monotonic()
            self._poller.add(job_id, change.key)

        work = [c for c in plan.changes if c.submits or c.action == "recover"]
        self._emit(ev.Start(total=len(plan.changes), submit=len(work), poll=len(self._poller.pending)))
        pool = ThreadPoolExecutor(max_workers=max(1, self.opt.parallelism), thread_name_prefix="apply")
        try:
            self._submit_all(pool, work)
            if self.opt.wait and self.lease_lost is None:
                self._poller.wait_all(pool)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            summary.interrupted = self.stop.is_set() and self.fatal is None
            summary.elapsed = time.monotonic() - started
        for res in summary.results.values():
            if (
                res.status == "pending"
                and res.job_id is None
                and res.submitted is None
                and self.stop.is_set()
            ):
                res.status = "skipped"
        return summary

    # ------------------------------------------------------------------ submit

    def _submit_all(self, pool: ThreadPoolExecutor, work: list[Change]) -> None:
        """Submit ``work`` in order with ``parallelism`` workers, each taking the next change when it is
        done with one (nothing is queued ahead: after an interrupt no new submission starts). Between
        two submissions a worker runs the poll round when one is due and none is in flight, so polling
        goes on during submission within the same ``parallelism`` calls at a time."""
        width = 2 * max(1, self.opt.parallelism)
        batching = self.allow_submit and self.store.batch_intents
        take_lock = threading.Lock()
        nxt = pre_upto = 0
        errors: list[BaseException] = []
        polling = False
        next_poll = time.monotonic() + self.opt.poll_initial

        def take() -> Change | None:
            nonlocal nxt, pre_upto
            with take_lock:
                if nxt >= len(work) or self.stop.is_set():
                    return None
                if batching and nxt >= pre_upto - width // 2 and pre_upto < len(work):
                    start = max(nxt, pre_upto)
                    self._prewrite_intents(work[start : start + width])
                    pre_upto = start + width
                nxt += 1
                return work[nxt - 1]

        def maybe_poll() -> None:
            nonlocal polling, next_poll
            if not (self._poller.pending and self.opt.wait) or time.monotonic() < next_poll:
                return
            with take_lock:
                if polling or time.monotonic() < next_poll:
                    return
                polling = True
            try:
                self._poller.round(pool, block=False)
            finally:
                with take_lock:
                    polling = False
                    next_poll = time.monotonic() + self.opt.poll_initial

        def submitter() -> None:
            try:
                while (change := take()) is not None:
                    try:
                        self._submit_one(change)
                    except StateWriteError:
                        raise
                    except Exception as e:  # pragma: no cover - _submit_one catches everything else
                        raise StateWriteError(f"internal error: {e!r}") from e
                    maybe_poll()
            except BaseException as e:  # the disk is full: stop, let the others land, report
                errors.append(e)
                self.stop.set()

        workers = [pool.submit(submitter) for _ in range(min(len(work), max(1, self.opt.parallelism)))]
        for w in workers:
            result(w)
        lost = next((e for e in errors if isinstance(e, LeaseLost)), None)
        if lost is None and errors and isinstance(errors[0], StateWriteError) and self.store.lost():
            lost = LeaseLost(str(errors[0]))  # the journal was sealed by the run that took over
        if lost is not None:  # stop, keep what was recorded; the caller says what was and was not sent
            self.lease_lost = lost
            return
        if errors:
            raise errors[0]

    def _prewrite_intents(self, changes: list[Change]) -> None:
        """The write-ahead intents of new submissions among ``changes``, made durable together."""
        wrote = False
        for c in changes:
            if c.job is None or c.action == "recover" or c.key in self._pre:
                continue
            intent = {"tag": new_tag(), "since": now_iso()}
            self.store.put(c.key, self._record(c.job, intent))
            self._pre[c.key] = intent
            wrote = True
        if wrote:
            self.store.flush_durable()

    def _submit_one(self, change: Change) -> None:
        """Submit one job; an unexpected error leaves it unresolved (intent kept), never kills the run."""
        try:
            self._submit_one_inner(change)
        except StateWriteError:
            raise
        except Exception as e:  # a bug, or an answer nobody foresaw: report it, keep going
            res = self._summary.results[change.key]
            res.status, res.code = "pending", "InternalError"
            res.message = f"unexpected error ({type(e).__name__}: {e}); rerun to resolve this job"
            res.finished = time.monotonic()
            self._emit(ev.Failed(key=change.key, code=res.code, message=res.message, permanent=False))

    def _submit_one_inner(self, change: Change) -> None:
        if self.stop.is_set():
            return
        job = change.job
        assert job is not None
        res = self._summary.results[change.key]
        res.started = time.monotonic()
        prior = change.prior
        # Only an unchanged job resumes its interrupted submission; a changed one ("replace") gets a
        # new tag: whatever the old intent created has the old config and is left alone.
        intent = prior.intent if prior is not None and change.action == "recover" else None
        pipeline = job.request.get("PipelineId")
        if intent:
            # An interrupted submission: find the job before submitting anything. The last Submit
            # may still be in the service's hands: a miss counts only once its read timeout passed.
            since = parse_iso(intent["since"])
            last = parse_iso(intent.get("last") or intent["since"])
            elapsed = (datetime.now(UTC) - last).total_seconds() - 1.0  # stored times are whole seconds
            grace = self.uncertain_grace if self.allow_submit else 0.0
            looked_from = time.monotonic() - max(0.0, elapsed)
            old_tag: str = intent["tag"]
            try:
                found = self._call(
                    None, lambda: self._lookup(old_tag, pipeline, since, looked_from, grace), res
                )
            except BackendError as e:
                self._fail(res, job, e, keep_intent=intent, prior=prior)
                return
            if found is not None:
                with self._lock:
                    self._summary.recovered_adopted += 1
                self._emit(ev.Adopted(key=job.key, job_id=found.id))
                self._accept(res, job, found, adopted=True)
                return
            if not self.allow_submit or self.stop.is_set():  # interrupted: the intent stays for the next run
                res.status = "pending"
                return
            with self._lock:
                self._summary.recovered_resubmitted += 1
            tag = intent["tag"]
            since_s = intent["since"]
        else:
            pre = self._pre.pop(change.key, None)  # already durable (written ahead)
            tag, since_s = (pre["tag"], pre["since"]) if pre else (new_tag(), now_iso())
        intent = {"tag": tag, "since": since_s}
        # The write-ahead intent: durable before the Submit leaves this process.
        self.store.put(job.key, self._record(job, intent), durable=True)
        user_data = compose_user_data(job.user_data, tag)
        uncertain_at: float | None = None

        def attempt() -> RemoteJob:
            nonlocal uncertain_at
            res.attempts += 1
            if uncertain_at is not None:
                since = parse_iso(since_s)  # only needed to look the job up
                found = self._lookup(tag, pipeline, since, uncertain_at, self.uncertain_grace)
                if found is not None:
                    res.adopted = True
                    return found
            if res.attempts > 1:  # a crash from here on must wait out this Submit, not the first
                self.store.put(job.key, self._record(job, {**intent, "last": now_iso()}), durable=True)
            passed = 0

            def gate() -> None:
                # Immediately before the request is written, after every wait (the rate limiter,
                # the backoff, a connection): a remote state's lease still confirmed, with margin.
                nonlocal passed
                self.store.before_submit()
                passed += 1

            try:
                return metered(self.submit_bucket, lambda: self.backend.submit(job.request, user_data, gate))
            except UncertainSubmitError as e:
                # No answer at all: the service may still be creating the job, so a lookup miss
                # counts only after its read timeout. An error answer (5xx) means it has finished.
                uncertain_at = time.monotonic() - (0.0 if e.http_status is None else self.uncertain_grace)
                raise
            finally:
                for _ in range(passed):
                    self.store.submitted()

        if self.on_event is not _unwatched:  # per-job events only for a listener
            self._emit(ev.Submitting(key=job.key))
        try:
            remote = self._call(None, attempt, res)
        except BackendError as e:
            self._fail(res, job, e, keep_intent=intent if uncertain_at is not None else None, prior=prior)
            return
        self._accept(res, job, remote, adopted=res.adopted)

    def _lookup(
        self, tag: str, pipeline: str | None, since: datetime, uncertain_at: float, grace: float
    ) -> RemoteJob | None:
        return lookup_by_tag(
            self.backend, self.query_bucket, self.stop, self._sleep, tag, pipeline, since, uncertain_at, grace
        )

    def _accept(self, res: JobResult, job: Job, remote: RemoteJob, *, adopted: bool) -> None:
        res.submitted = time.monotonic()
        res.job_id = remote.id
        res.adopted = adopted
        rec = self._outcome(job, remote)
        # The job id is in the journal (flushed to the OS: it survives a killed process) before we
        # wait on it. No fsync needed: after a machine crash the fsynced intent finds the job by its tag.
        self.store.put(job.key, rec)
        if self.on_event is not _unwatched:  # per-job events only for a listener
            self._emit(ev.Submitted(key=job.key, job_id=remote.id, state=remote.state, adopted=adopted))
        if remote.state in FINAL_STATES:
            self._finish(res, remote)
        else:
            self._poller.add(remote.id, job.key)

    def _fail(
        self,
        res: JobResult,
        job: Job,
        err: BackendError,
        *,
        keep_intent: Mapping[str, str] | None,
        prior: LockEntry | None = None,
    ) -> None:
        code = err.code or type(err).__name__
        msg = str(err)
        res.code, res.message, res.finished = code, msg, time.monotonic()
        # Nothing was created and nothing else can be (a fatal error: the run stops), or the run was
        # interrupted while retrying a call that did not take effect (the job was not sent, it did not
        # fail): restore what the state said; the next run plans the job again.
        fatal = self._is_fatal(err)
        if not keep_intent and (fatal or (self.stop.is_set() and isinstance(err, TransientBackendError))):
            if prior:
                self.store.put(job.key, prior, durable=True)
            else:
                self.store.delete(job.key, durable=True)
            res.status = "skipped"
            return
        if keep_intent:
            # We do not know whether the job exists: keep the intent so the next run looks it up.
            rec = self._record(job, keep_intent, code=code, message=msg)
            res.status = "pending"
        else:
            rec = self._record(job, state="Fail", code=code, message=msg)
            res.status = "fail"
        self.store.put(job.key, rec, durable=True)
        self._emit(
            ev.Failed(key=job.key, code=code, message=msg, permanent=isinstance(err, PermanentBackendError))
        )

    def _is_fatal(self, err: BackendError) -> bool:
        """Errors that doom every other call too (bad credentials, unreachable service): stop the run."""
        fatal = isinstance(err, CredentialsError) or err.code in FATAL_CODES
        if fatal:
            with self._lock:
                if self.fatal is None:
                    self.fatal = err
            self.stop.set()
        return fatal

    def _finish(self, res: JobResult, remote: RemoteJob) -> None:
        res.finished = time.monotonic()
        res.status = "success" if remote.state == "Success" else "fail"
        res.code, res.message = remote.code, remote.message
        if self.on_event is not _unwatched:  # per-job events only for a listener
            self._emit(
                ev.Finished(
                    key=res.key,
                    job_id=remote.id,
                    state=remote.state,
                    code=remote.code,
                    message=remote.message,
                )
            )

    # ------------------------------------------------------------------ poll (see polling.py)

    def _query(self, batch: list[str]) -> tuple[list[RemoteJob], list[str]] | None:
        try:
            answer: tuple[list[RemoteJob], list[str]] = self._call(
                self.query_bucket, lambda: self.backend.query(batch)
            )
        except BackendError as e:
            self._is_fatal(e)
            self._emit(ev.PollError(error=str(e)))
            return None
        return answer

    def _found(self, key: str, remote: RemoteJob) -> bool:
        """Record what the service says of a job waited on; True once it is final."""
        self.store.put(key, self._outcome(self._jobs[key], remote))
        if remote.state not in FINAL_STATES:
            return False
        self._finish(self._summary.results[key], remote)
        return True

    def _gone(self, key: str, job_id: str) -> bool:
        """The service says ``job_id`` does not exist: failed as JobNotFound, unless it was submitted
        so recently that the query side may not know it yet (then False: asked again later)."""
        res = self._summary.results[key]
        since = res.submitted  # None: a job id recorded by an earlier run, no grace
        if since is not None and time.monotonic() - since < self.not_found_grace:
            return False
        message = f"job {job_id} does not exist on the service"
        self.store.put(key, self._record(self._jobs[key], state="Fail", code="JobNotFound", message=message))
        res.status, res.code, res.finished = "fail", "JobNotFound", time.monotonic()
        return True
