"""Running the executor under the state's lock: ``apply`` (and so ``retry``) and ``refresh``.

``_execute`` locks (``run.Run``), plans against the state read under the lock, runs the executor and
commits. Invariants: nothing is submitted after the lock could no longer be confirmed (a lost lease is
one ``LeaseLost`` error saying what was and was not sent); a run with nothing to submit or poll opens
no backend (no credentials needed); ``refresh`` never submits. The run-results file is written by the
caller (``render.json.write_run_results``), as the CLI does after ``apply``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specrunner.apply.events import Event
from specrunner.apply.executor import Executor, Options
from specrunner.apply.outcomes import ObjectLister
from specrunner.apply.ratelimit import RetryPolicy, TokenBucket
from specrunner.apply.results import RunSummary
from specrunner.backends import Backend, ObjectsLister, open_backend, open_lister, open_objects_lister
from specrunner.core.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PENDING,
    LeaseLost,
    StateWriteError,
)
from specrunner.core.model import Manifest
from specrunner.core.plan import Plan
from specrunner.ops.context import Context
from specrunner.ops.planrequest import PlanRequest, compute_plan
from specrunner.ops.refresh import input_fingerprints, record_verified
from specrunner.ops.run import Run
from specrunner.ops.savedplan import check_saved_plan
from specrunner.ops.statecmds import move_records
from specrunner.statefile.backend import JobStore


@dataclass
class ApplyOptions:
    parallelism: int = 10
    wait: bool = True
    lock_timeout: float = 0.0
    timeout: float | None = None
    retry_zero_wait: bool = False


@dataclass
class ApplyOutcome:
    plan: Plan
    summary: RunSummary
    state_changed: bool
    run_file: Path | None  # the run-results file, once a caller wrote it (``render.json``)
    lock_info: dict[str, Any]
    stale_lock: dict[str, Any] | None = None
    state_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def exit_code(self) -> int:
        c = self.summary.counts()
        if self.summary.interrupted:
            return EXIT_INTERRUPTED
        if c["failed"] or c["kept_failed"]:  # a failure stands until someone acts: CI stays red
            return EXIT_FAILED
        if c["pending"]:
            return EXIT_PENDING
        return EXIT_OK


def make_executor(
    backend: Backend,
    store: JobStore,
    manifest: Manifest,
    opts: ApplyOptions,
    on_event: Callable[[Event], None] | None,
) -> Executor:
    return Executor(
        backend,
        store,
        Options(
            parallelism=opts.parallelism,
            wait=opts.wait,
            timeout=opts.timeout,
            retry=RetryPolicy(zero_wait=opts.retry_zero_wait),
        ),
        submit_bucket=TokenBucket(manifest.target.qps_submit),
        query_bucket=TokenBucket(manifest.target.qps_query),
        on_event=on_event,
        lister=lazy_lister(manifest),
    )


def lazy_lister(manifest: Manifest) -> ObjectLister:
    """The manifest's object lister (folders, or OSS ListObjectsV2), opened on its first use only: most
    answers carry their Count and need no listing."""
    opened: list[ObjectLister] = []

    def lister(bucket: str, location: str, prefix: str) -> list[str]:
        if not opened:
            opened.append(open_lister(manifest))
        return opened[0](bucket, location, prefix)

    return lister


def _objects_lister(manifest: Manifest) -> Callable[[], ObjectsLister]:
    """Opens the manifest's object lister (sizes and ETags) on first use, once."""
    opened: list[ObjectsLister] = []

    def lister() -> ObjectsLister:
        if not opened:
            opened.append(open_objects_lister(manifest))
        return opened[0]

    return lister


def _submitted_inputs(
    ctx: Context, plan: Plan, objects: Callable[[], ObjectsLister]
) -> dict[str, str | None]:
    """Per job this run submits, its input's ETag (local: content fingerprint) now, recorded with it
    (None when it could not be listed: then none is recorded, never the previous submission's)."""
    jobs = [c.job for c in plan.active if c.submits and c.job is not None]
    if not jobs:
        return {}
    refs = {j.input_ref: str(j.request["Input"].get("Location") or "") for j in jobs}
    etags = input_fingerprints(refs, ctx.input_etags, objects, chunked=ctx.manifest.target.backend != "local")
    return {j.key: etags.get(j.input_ref) for j in jobs}


class _IdleBackend:
    """Stands in when a run has nothing to ask the service: any call is a bug."""

    name = "idle"
    uncertain_grace = 0.0
    not_found_grace = 0.0

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a run with nothing to do called the backend ({name})")


def apply(
    ctx: Context,
    req: PlanRequest,
    opts: ApplyOptions,
    *,
    on_event: Callable[[Event], None] | None = None,
    saved_plan: dict[str, Any] | None = None,
    backend: Backend | None = None,
    executor_hook: Callable[[Executor], None] | None = None,
    confirm: Callable[[Plan], None] | None = None,
) -> ApplyOutcome:
    """``confirm`` sees the plan made under the lock before anything is sent; it raises to stop."""

    def planner(ctx: Context) -> Plan:
        plan = compute_plan(ctx, req)
        if saved_plan is not None:
            check_saved_plan(saved_plan, ctx, plan)
        if confirm is not None:
            confirm(plan)
        return plan

    return _execute(ctx, "apply", opts, planner, on_event=on_event, backend=backend, hook=executor_hook)


def refresh(
    ctx: Context,
    opts: ApplyOptions,
    *,
    on_event: Callable[[Event], None] | None = None,
    backend: Backend | None = None,
) -> ApplyOutcome:
    """Poll every non-final job (and look up interrupted submissions); never submit anything."""

    def planner(ctx: Context) -> Plan:
        return Plan(compute_plan(ctx, PlanRequest()).by_action("resume"))

    return _execute(
        ctx, "refresh", opts, planner, on_event=on_event, backend=backend, hook=None, allow_submit=False
    )


def _execute(
    ctx: Context,
    operation: str,
    opts: ApplyOptions,
    planner: Callable[[Context], Plan],
    *,
    on_event: Callable[[Event], None] | None,
    backend: Backend | None,
    hook: Callable[[Executor], None] | None,
    allow_submit: bool = True,
) -> ApplyOutcome:
    """Lock, plan against the state read under the lock, run the executor, compact the state."""
    run = Run(ctx, operation, opts.lock_timeout)
    retired_before = set(run.store.doc.retired)
    try:
        plan = planner(ctx)
        # The `moved:` entries' renames first, journaled: the jobs are then what the state records.
        move_records(run.store, [(c.moved_from, c.key) for c in plan.active if c.moved_from])
        # From here on, what a forgotten or replaced job wrote and its new record no longer names
        # stays in the state (its ``retired`` list) until ``prune`` deletes it (a rename retires none).
        run.store.retire_outputs = allow_submit
        # Nothing to submit or poll (a no-op rerun, forgets or moves only): no backend, no credentials.
        idle = not any(c.action not in ("noop", "forget", "moved") for c in plan.active)
        be = backend or (_IdleBackend() if idle else open_backend(ctx.manifest, workers=opts.parallelism))
        objects = _objects_lister(ctx.manifest)
        try:
            ex = make_executor(be, run.store, ctx.manifest, opts, on_event)
            ex.allow_submit = allow_submit
            ex.input_etags = _submitted_inputs(ctx, plan, objects) if allow_submit else {}
            if hook:
                hook(ex)
            summary = ex.run(plan)
            if ex.lease_lost is None and ex.fatal is None and run.store.lost() is None:
                done = [k for k, r in summary.results.items() if r.status == "success"]
                record_verified(
                    run.store, ctx.refreshed, done, objects, chunked=ctx.manifest.target.backend != "local"
                )
        finally:
            if backend is None:
                be.close()
    finally:
        lost = run.store.lost()
        try:
            changed = run.close()
        except StateWriteError:
            if lost is None:
                raise
            changed = False  # sealed by the run that took over: what was journaled is the record
    if ex.lease_lost is not None or lost is not None:
        raise lease_lost_error(ex.lease_lost, lost, summary)
    if ex.fatal is not None:
        raise ex.fatal  # one clear line; what was recorded before is kept
    retired = sum(1 for o in run.store.doc.retired if o not in retired_before)
    out = ApplyOutcome(
        plan,
        summary,
        changed,
        None,
        run.lock.info,
        run.lock.stale_cleaned,
        run.store.bytes_written,
        extra={"retired": retired} if retired else {},
    )
    if ctx.refreshed is not None:
        out.extra["refresh"] = ctx.refreshed.summary()
    return out


def lease_lost_error(err: Exception | None, why: str | None, summary: RunSummary) -> LeaseLost:
    """One line: what a run that lost its state's lock did and did not submit."""
    results = summary.results.values()
    sent = sum(1 for r in results if r.submitted is not None and r.action != "poll")
    unsent = sum(1 for r in results if r.status in ("pending", "skipped") and r.job_id is None)
    reason = str(err) if err is not None else (why or "lost the state's lock")
    return LeaseLost(
        f"{reason}; this run submitted {sent} job(s) and stopped before submitting {unsent} "
        "(nothing was sent after the lock could no longer be confirmed)",
        hint="rerun: the next run finds every job this one submitted (by its id or its tag) and "
        "submits only the rest",
    )
