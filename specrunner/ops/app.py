"""The use cases behind the CLI: plan, apply, show, refresh. No printing here; the CLI renders."""

from __future__ import annotations

import gc
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specrunner import __version__
from specrunner.core.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PENDING,
    LeaseLost,
    PlanError,
    SpecrunnerError,
    StateError,
    StateWriteError,
)
from specrunner.core.jobs import Job, expand
from specrunner.core.model import Manifest
from specrunner.core.plan import Plan
from specrunner.core.record import LockEntry
from specrunner.ops.planning import plan_jobs
from specrunner.validate.manifest import load_manifest

if TYPE_CHECKING:  # imported where used: validate and plan never load the executor, SDKs or tenacity
    from specrunner.apply.events import Event
    from specrunner.apply.executor import Executor, RunSummary
    from specrunner.backends import Backend
from specrunner.statefile.backend import JobStore, LocalBackend, Lock, StateBackend, locate
from specrunner.statefile.doc import StateDoc
from specrunner.statefile.owner import Owner, foreign_state, is_default_state, manifest_owner

PLAN_FORMAT = "1.0"


def file_digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Context:
    manifest_path: Path
    state_path: Path
    manifest: Manifest
    jobs: Sequence[Job]
    state: StateDoc | None
    discovered: list[tuple[Any, int]] = field(default_factory=list)
    state_signature: Any = None  # state files' signature when `state` was read
    where: StateBackend | None = None  # the state's home (``statefile.backend.locate``); None: state_path
    owner: Owner | None = None  # this manifest's identity in its state (``statefile.owner``)
    owner_strict: bool = False  # refuse a state another manifest owns (not the local default state)
    state_arg: str | None = None  # --state as given (repeated in hints)

    @property
    def home(self) -> StateBackend:
        """Where the state lives (a local file, OSS): read, locked and written through this."""
        return self.where if self.where is not None else LocalBackend(self.state_path)

    @property
    def state_label(self) -> str:
        """The state as people name it: its file, or its oss:// URL."""
        return self.home.label

    @property
    def state_jobs(self) -> dict[str, LockEntry]:
        return self.state.jobs if self.state else {}

    def state_digest(self) -> str | None:
        return self.state.digest() if self.state else None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building large acyclic structures (100,000 jobs and their records):
    its full collections otherwise rescan every object built so far, again and again. What was
    built is then frozen (moved out of the collector's sight: it lives as long as the command),
    so the first collection afterwards does not scan it all either."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def load_context(
    manifest_path: str | Path,
    state_path: str | Path | None = None,
    *,
    lister: Any = None,
    expand_jobs: bool = True,
) -> Context:
    """The manifest, its jobs (``expand_jobs=False``: none, no input listed) and its state as read."""
    with gc_paused():
        return _load_context(manifest_path, state_path, lister=lister, expand_jobs=expand_jobs)


def _load_context(
    manifest_path: str | Path,
    state_path: str | Path | None = None,
    *,
    lister: Any = None,
    expand_jobs: bool = True,
) -> Context:
    mpath = Path(manifest_path)
    manifest = load_manifest(mpath)
    owner = manifest_owner(mpath, manifest.name)
    where = locate(mpath, state_path, manifest)
    spath = where.path
    discovered: list[tuple[Any, int]] = []
    if manifest.discoveries and expand_jobs:
        manifest, discovered = discover_inputs(manifest, lister)
    jobs: Sequence[Job] = expand(manifest) if expand_jobs else ()
    if discovered:  # validation checked the listed inputs; discovered ones are checked here
        check_collisions(jobs)
    # The local default state follows its manifest (both renamed together); any other is refused to
    # another manifest than its owner.
    strict = where.shared or not is_default_state(mpath, spath)
    arg = None if state_path is None else (where.label if where.shared else str(state_path))
    signature = where.signature()  # before the read: a change after it is seen as a change
    ctx = Context(mpath, spath, manifest, jobs, where.read(), where=where)
    ctx.discovered = discovered
    ctx.state_signature = signature
    ctx.owner, ctx.owner_strict, ctx.state_arg = owner, strict, arg
    return ctx


def check_owner(ctx: Context) -> None:
    """Refuse a state that another manifest owns (``statefile.owner``), before anything is planned."""
    doc, owner = ctx.state, ctx.owner
    if doc is None or owner is None or not ctx.owner_strict or owner.accepts(doc.owner):
        return
    assert doc.owner is not None
    where = ctx.state_label
    raise foreign_state(
        where, doc.owner, str(ctx.manifest_path), owner, jobs=doc.job_count(), state_arg=ctx.state_arg
    )


def discover_inputs(manifest: Manifest, lister: Any = None) -> tuple[Manifest, list[tuple[Any, int]]]:
    """Expand `{prefix, match}` input entries by listing the bucket (at plan time)."""
    from specrunner.backends import open_lister
    from specrunner.core.model import Input, evolve

    lister = lister or open_lister(manifest)
    inputs = list(manifest.inputs)
    seen = {i.id for i in inputs}
    found: list[tuple[Any, int]] = []
    for d in manifest.discoveries:
        keys = [k for k in lister(d.bucket, d.location, d.prefix) if d.matches(k)]
        n = 0
        for key in keys:
            if key in seen:
                continue
            seen.add(key)
            inputs.append(Input(id=key, object=key, bucket=d.bucket, location=d.location))
            n += 1
        found.append((d, n))
    return evolve(manifest, inputs=tuple(inputs)), found


def check_collisions(jobs: Iterable[Job]) -> None:
    """Two jobs must never write the same object (checked again after discovery)."""
    owner: dict[str, str] = {}
    for job in jobs:
        for tpl in filter(None, (job.output_template, job.tile_template)):
            other = owner.setdefault(tpl, job.key)
            if other != job.key:
                from specrunner.core.errors import ManifestError

                raise ManifestError(
                    f"jobs {other} and {job.key} would both write {tpl}",
                    hint="add {FileName} or {ObjectPrefix} to the rule's output "
                    "so every input gets its own objects",
                )


@dataclass
class PlanRequest:
    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    only_failed: bool = False


def compute_plan(ctx: Context, req: PlanRequest) -> Plan:
    from specrunner.core.plan import TargetError

    check_owner(ctx)
    try:
        with gc_paused():
            plan = plan_jobs(
                ctx.jobs,
                ctx.state,
                targets=req.targets,
                excludes=req.excludes,
                only_failed=req.only_failed,
            )
    except TargetError as e:
        e.hint = f"job keys are <input id>::<rule id>; `specrunner plan {ctx.manifest_path}` lists them"
        raise
    check_takeover(ctx, plan)
    return plan


def check_takeover(ctx: Context, plan: Plan) -> None:
    """A manifest known by its file name only (no `name:`, outside a git repository) that would
    forget every job of a state named on purpose is refused: its owner id cannot tell two such
    manifests apart, and forgetting everything is what another manifest's state looks like."""
    doc, owner = ctx.state, ctx.owner
    if doc is None or owner is None or not owner.weak or not ctx.owner_strict:
        return
    recorded = doc.job_count()
    forgets = len(plan.by_action("forget"))
    if recorded == 0 or forgets < recorded:
        return
    where = ctx.state_label
    raise StateError(
        f"{ctx.manifest_path} would forget all {recorded} jobs the state {where} recorded: is it pointed "
        f"at another manifest's state? Outside a git repository a manifest without `name:` is known by "
        f"its file name only ({owner.id!r}, as the state's owner {doc.owner or owner.id!r}), so two "
        "manifests of that name cannot be told apart",
        hint="give each manifest a `name:` (or its own `state:` key / --state file); to replace every "
        "job of this state on purpose, give this manifest a `name:`: it then owns the state by name",
    )


def plan_document(ctx: Context, plan: Plan, req: PlanRequest, *, include_noop: bool = True) -> dict[str, Any]:
    """The versioned plan JSON (also the saved plan file format)."""
    changes = []
    for c in plan.changes:
        if c.action == "noop" and not include_noop:
            continue
        entry: dict[str, Any] = {
            "key": c.key,
            "action": c.shown,
            "step": c.action,
            "reason": c.reason,
            "mode": c.mode,
        }
        if c.job is not None:
            entry.update(input=c.job.input_ref, rule=c.job.rule_id, fingerprint=c.job.fingerprint)
        if c.prior is not None and c.prior.job_id:
            entry["prior_job_id"] = c.prior.job_id
        if c.diff:
            entry["diff"] = [d.to_json() for d in c.diff]
        changes.append(entry)
    return {
        "format_version": PLAN_FORMAT,
        "kind": "specrunner-plan",
        "specrunner_version": __version__,
        "manifest": {"path": str(ctx.manifest_path), "digest": file_digest(ctx.manifest_path)},
        "state": {
            "path": str(ctx.state_path),
            "lineage": ctx.state.lineage if ctx.state else None,
            "serial": ctx.state.serial if ctx.state else None,
            "digest": ctx.state_digest(),
        },
        "backend": ctx.manifest.target.backend,
        "selection": {
            "targets": list(req.targets),
            "excludes": list(req.excludes),
            "only_failed": req.only_failed,
        },
        "discovery": [
            {"index": d.index, "bucket": d.bucket, "prefix": d.prefix, "match": d.match, "found": n}
            for d, n in ctx.discovered
        ],
        "summary": plan.counts(),
        "has_changes": plan.has_changes,
        "changes": changes,
    }


def save_plan(doc: dict[str, Any], out: Path) -> None:
    """Write a plan file. Its manifest and state paths are stored relative to the plan file, so
    the plan can be applied from another working directory (or another checkout of the repo)."""
    from specrunner.statefile.files import atomic_write

    saved = json.loads(json.dumps(doc))
    base = out.resolve().parent
    for part in ("manifest", "state"):
        if not str(doc[part]["path"]).startswith("oss://"):
            saved[part]["path"] = os.path.relpath(Path(doc[part]["path"]).resolve(), base)
    saved["paths_relative_to_plan_file"] = True
    atomic_write(out, (json.dumps(saved, indent=2, sort_keys=True) + "\n").encode())


def is_plan_file(path: Path) -> bool:
    """A saved plan is JSON with kind specrunner-plan; manifests are YAML."""
    if path.suffix.lower() in (".yaml", ".yml") or not path.is_file():
        return False
    try:
        with open(path, "rb") as f:
            if f.read(64).lstrip()[:1] != b"{":
                return False
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("kind") == "specrunner-plan"


def load_saved_plan(path: Path) -> dict[str, Any]:
    """Read and check a plan file; its paths come back usable from the current directory."""
    import jsonschema

    from specrunner.validate.schema import load_schema

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PlanError(f"{path}: cannot read the saved plan: {e}") from None
    if not isinstance(doc, dict) or doc.get("kind") != "specrunner-plan":
        raise PlanError(f"{path}: not a specrunner plan file")
    if doc.get("format_version") != PLAN_FORMAT:
        raise PlanError(
            f"{path}: plan format {doc.get('format_version')!r} is not supported "
            f"(this specrunner writes {PLAN_FORMAT})"
        )
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(load_schema("plan.v1.json")).iter_errors(doc)
    )
    if error is not None or not isinstance(doc.get("selection"), dict):
        where = "/".join(str(p) for p in error.absolute_path) if error is not None else "selection"
        raise PlanError(
            f"{path}: the saved plan is damaged at {where or 'the top'}: "
            f"{error.message if error is not None else 'missing'}",
            hint="make a new one with `specrunner plan MANIFEST --out FILE`",
        )
    if doc.get("paths_relative_to_plan_file"):
        base = path.resolve().parent
        for part in ("manifest", "state"):
            if not str(doc[part]["path"]).startswith("oss://"):
                doc[part]["path"] = os.path.relpath(base / doc[part]["path"])
    return doc


def check_saved_plan(doc: dict[str, Any], ctx: Context, plan: Plan) -> None:
    """Refuse a saved plan if the manifest or the state changed since it was made."""
    if file_digest(ctx.manifest_path) != doc["manifest"]["digest"]:
        raise PlanError(
            "the saved plan is stale: the manifest changed since it was made",
            hint=f"make a new plan, `specrunner plan {ctx.manifest_path} --out plan.json`, and review it",
        )
    if ctx.state_digest() != doc["state"]["digest"]:
        raise PlanError(
            "the saved plan is stale: the state changed since it was made (another apply ran?)",
            hint=f"make a new plan, `specrunner plan {ctx.manifest_path} --out plan.json`, and review it",
        )
    saved = {(c["key"], c["action"], c.get("fingerprint")) for c in doc["changes"]}
    now = {(c.key, c.shown, c.job.fingerprint if c.job else None) for c in plan.changes}
    if saved != now:
        raise PlanError(
            "the saved plan does not match what this specrunner would do now",
            hint=f"make a new plan with this version: `specrunner plan {ctx.manifest_path} --out plan.json`",
        )


# ------------------------------------------------------------------------------------ apply


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
    run_file: Path | None
    lock_info: dict[str, Any]
    stale_lock: dict[str, Any] | None = None
    state_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def exit_code(self) -> int:
        c = self.summary.counts()
        if self.summary.interrupted:
            return EXIT_INTERRUPTED
        if c["failed"]:
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
    from specrunner.apply.executor import Executor, Options
    from specrunner.apply.ratelimit import RetryPolicy, TokenBucket

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
    )


class _IdleBackend:
    """Stands in when a run has nothing to ask the service: any call is a bug."""

    name = "idle"
    uncertain_grace = 0.0
    not_found_grace = 0.0

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a run with nothing to do called the backend ({name})")


class Run:
    """One locked, state-writing operation (apply, refresh, ...): lock -> store -> work -> commit.

    The state read under the lock is refused if another manifest owns it (``check_owner``; not for
    ``state claim``, whose point it is), and a run that writes the state records this manifest as its
    owner (``statefile.owner``: the owner alone never makes a run write)."""

    def __init__(self, ctx: Context, operation: str, lock_timeout: float = 0.0) -> None:
        self.ctx = ctx
        self.operation = operation
        opened = ctx.home.open_run(
            operation,
            lock_timeout,
            manifest=ctx.manifest_path,
            known=ctx.state,
            known_signature=ctx.state_signature,
        )
        self.lock: Lock = opened.lock
        self.store: JobStore = opened.store
        exists = opened.existed
        # Re-read under the lock: another run may have finished just before we got it.
        doc = self.store.doc
        self._serial = doc.serial
        ctx.state = (
            StateDoc(doc.lineage, doc.serial, dict(doc.jobs), owner=doc.owner)
            if (exists or doc.jobs)
            else None
        )
        if operation != "state claim":
            try:
                check_owner(ctx)
            except BaseException:
                self.close(commit=False)
                raise

    def close(self, *, commit: bool = True) -> bool:
        try:
            if commit:
                self._record_owner()
            return self.store.commit() if commit else False
        finally:
            self.store.close()
            self.lock.release()

    def _record_owner(self) -> None:
        """This manifest becomes the owner recorded by a run that writes the state (a state without
        an owner, a local default state renamed with its manifest); never a reason to write."""
        owner, doc = self.ctx.owner, self.store.doc
        if owner is None or doc.owner == owner.id or self.operation == "state claim":
            return
        if self.store.dirty() or doc.serial != self._serial:  # changed, or committed during the run
            doc.owner = owner.id


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

    outcome = _execute(ctx, "apply", opts, planner, on_event=on_event, backend=backend, hook=executor_hook)
    outcome.run_file = write_run_results(ctx, outcome)
    return outcome


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
    from specrunner.backends import open_backend

    run = Run(ctx, operation, opts.lock_timeout)
    try:
        plan = planner(ctx)
        # Nothing to submit or poll (a no-op rerun, forgets only): no backend, no credentials needed.
        idle = not any(c.action != "noop" and c.action != "forget" for c in plan.active)
        be = backend or (_IdleBackend() if idle else open_backend(ctx.manifest, workers=opts.parallelism))
        try:
            ex = make_executor(be, run.store, ctx.manifest, opts, on_event)
            ex.allow_submit = allow_submit
            if hook:
                hook(ex)
            summary = ex.run(plan)
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
    return ApplyOutcome(
        plan, summary, changed, None, run.lock.info, run.lock.stale_cleaned, run.store.bytes_written
    )


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


def write_run_results(ctx: Context, outcome: ApplyOutcome) -> Path | None:
    """dbt-style run_results: ``<manifest dir>/.specrunner/runs/<time>-<id>.json`` (git-ignored)."""
    runs = ctx.manifest_path.resolve().parent / ".specrunner" / "runs"
    try:
        runs.mkdir(parents=True, exist_ok=True)
        ignore = runs.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# written by specrunner: run results, never committed\n*\n")
        now = datetime.now(UTC)
        doc = {
            "format_version": "1.0",
            "kind": "specrunner-run",
            "specrunner_version": __version__,
            "manifest": str(ctx.manifest_path),
            "state": str(ctx.state_path),
            "started": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "elapsed_seconds": round(outcome.summary.elapsed, 3),
            "counts": outcome.summary.counts(),
            "exit_code": outcome.exit_code(),
            "recovered": {
                "adopted": outcome.summary.recovered_adopted,
                "resubmitted": outcome.summary.recovered_resubmitted,
            },
            "results": outcome.summary.acted_on(),
        }
        import uuid

        path = runs / f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}.json"
        # One line, sorted: json's C encoder (indent= switches to the pure-Python one, ~10x slower,
        # seconds for 100,000 results). A machine-readable, git-ignored file: jq pretty-prints it.
        path.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n")
        return path
    except OSError:
        return None


def state_rows(doc: StateDoc | None) -> list[dict[str, Any]]:
    if doc is None:
        return []
    rows = []
    for key in sorted(doc.jobs):
        r = doc.jobs[key]
        rows.append(
            {
                "key": key,
                "job_id": r.job_id,
                "state": r.shown_state,
                "mode": r.mode,
                "count": r.count,
                "code": r.code,
                "message": r.message,
                "outputs": list(r.outputs),
            }
        )
    return rows


def display(path: str | Path) -> str:
    from specrunner.validate.yamlload import display_path

    return display_path(Path(path))


def describe_lock(info: dict[str, Any] | None) -> str:
    from specrunner.statefile.locking import describe

    return describe(info)


# ----------------------------------------------------------------------------------- refresh / import / state


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


def _decoded(value: Any) -> Any:
    from urllib.parse import unquote

    if isinstance(value, dict):
        return {
            k: (unquote(v) if k == "Object" and isinstance(v, str) else _decoded(v))
            for k, v in value.items()
            if k != "RoleArn"
        }
    return value


def import_job(
    ctx: Context, key: str, job_id: str, *, lock_timeout: float = 0.0, backend: Backend | None = None
) -> LockEntry:
    """Adopt an existing job into the state after checking it exists and matches the manifest."""
    from specrunner.apply.executor import outcome_record
    from specrunner.backends import open_backend
    from specrunner.validate.reporting import did_you_mean

    desired = {j.key: j for j in ctx.jobs}
    if key not in desired:
        raise SpecrunnerError(
            f"no job {key!r} in {ctx.manifest_path}{did_you_mean(key, list(desired))}",
            hint=f"job keys are <input id>::<rule id>; `specrunner plan {ctx.manifest_path}` lists them",
        )
    job = desired[key]
    run = Run(ctx, "import", lock_timeout)
    try:
        be = backend or open_backend(ctx.manifest, workers=1)
        try:
            found, missing = be.query([job_id])
        finally:
            if backend is None:
                be.close()
        if missing or not found:
            raise SpecrunnerError(f"job {job_id} does not exist on the {ctx.manifest.target.backend} backend")
        remote = found[0]
        raw = remote.raw
        want_cfg, got_cfg = _decoded(job.request["SnapshotConfig"]), _decoded(raw.get("SnapshotConfig", {}))
        if "FrameType" not in want_cfg and str(got_cfg.get("FrameType", "intra")).lower() == "intra":
            got_cfg.pop("FrameType", None)  # the service's default, echoed back
        got_input = {k: raw.get("Input", {}).get(k) for k in ("Bucket", "Location", "Object")}
        diffs = ["Input"] if _decoded(job.request["Input"]) != _decoded(got_input) else []
        diffs += [
            f"SnapshotConfig.{k}"
            for k in sorted(set(want_cfg) | set(got_cfg))
            if want_cfg.get(k) != got_cfg.get(k)
        ]
        if diffs:
            raise SpecrunnerError(
                f"job {job_id} does not match {key}: {', '.join(diffs)} differ",
                hint="import only jobs created with the same parameters as the rule",
            )
        rec = outcome_record(job, remote)
        run.store.put(key, rec, durable=True)
    finally:
        run.close()
    return rec


def _claim_for_write(
    store: JobStore, where: StateBackend, manifest: Path | None, state_arg: str | None
) -> None:
    """For a state verb that does not load the manifest (``state rm``): refuse a state another
    manifest owns, as ``check_owner`` does, else record this manifest as the owner of the write."""
    from specrunner.statefile.owner import read_name

    if manifest is None:
        return
    owner = manifest_owner(manifest, read_name(manifest))
    recorded = store.doc.owner
    if (where.shared or not is_default_state(manifest, where.path)) and not owner.accepts(recorded):
        assert recorded is not None
        raise foreign_state(
            where.label, recorded, str(manifest), owner, jobs=len(store.jobs), state_arg=state_arg
        )
    store.doc.owner = owner.id


def state_remove(
    where: StateBackend,
    keys: list[str],
    *,
    lock_timeout: float = 0.0,
    manifest: Path | None = None,
    state_arg: str | None = None,
) -> list[str]:
    """``state rm``: drop the records of ``keys`` under the state's lock (nothing is deleted in MTS/OSS)."""
    opened = where.open_run("state rm", lock_timeout, manifest=manifest)
    store = opened.store
    try:
        _claim_for_write(store, where, manifest, state_arg)
        missing = [k for k in keys if k not in store.jobs]
        if missing:
            raise SpecrunnerError(
                f"not in the state: {', '.join(missing)}",
                hint=f"`specrunner state list {manifest or 'MANIFEST'}` shows the keys",
            )
        for k in keys:
            store.delete(k, durable=True)
        store.commit()
    finally:
        store.close()
        opened.lock.release()
    return keys
