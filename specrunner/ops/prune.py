"""``prune``: delete the output objects that only forgotten or replaced jobs named, and record it.

The plan (``core.retired.plan_prune``) is made from the state alone: its ``retired`` list and the
outputs of records the manifest no longer wants, less every object a wanted record names.

Invariants:

- Nothing the state does not name is deleted: every object is checked against the state read under
  the lock before the first delete (:func:`check_named`).
- Under the state's lock, in this order: the forgotten records whose outputs are pruned leave the
  state with their outputs moved to ``retired`` (durable); then the deletes; then the deleted objects
  leave ``retired`` (durable). A crash between the deletes and that record leaves them retired, and
  the next prune deletes them again (an absent object counts as deleted) and records them.
- A delete that fails keeps its object retired for the next prune, each object with its own error
  (``outcome.failed``: the deleter's per-key answer); the run ends with one error.
- Ctrl-C during the deletes lets the calls in flight end and starts no other; the objects they
  deleted leave ``retired`` (durable) before the interrupt ends the command.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from specrunner.backends.objectdelete import Deleted, Deleter, LocalDeleter, OssDeleter, output_locations
from specrunner.core import shellwords
from specrunner.core.errors import SpecrunnerError, StateError
from specrunner.core.plan import TargetError, keys_hint, select
from specrunner.core.retired import PrunePlan, keep_changed, names, plan_prune
from specrunner.ops.context import Context, check_owner
from specrunner.ops.run import Run


@dataclass(frozen=True)
class PruneRequest:
    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    lock_timeout: float = 0.0


@dataclass
class PruneOutcome:
    plan: PrunePlan
    deleted: list[str] = field(default_factory=list)
    failed: list[tuple[str, SpecrunnerError]] = field(default_factory=list)
    stopped: bool = False
    forgotten: list[str] = field(default_factory=list)
    state_changed: bool = False
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    elapsed: float = 0.0
    run_file: Path | None = None
    again: str = "specrunner prune MANIFEST"  # the command that runs this prune again, to paste

    @property
    def error(self) -> SpecrunnerError | None:
        """One error for the deletes that failed (None: every object is gone)."""
        if not self.failed:
            return None
        first = self.failed[0][1]
        total = len(self.plan.deletions)
        left = total - len(self.deleted)
        more = sum(1 for _, e in self.failed if e is not first)  # a failed call's objects share its error
        others = f" ({more} other delete(s) failed too)" if more else ""
        err = SpecrunnerError(
            f"{first}{others}; prune deleted {len(self.deleted)} of {total} objects",
            hint=f"the {left} not deleted stay recorded in the state: fix the cause, then run "
            f"`{self.again}` again",
        )
        return err


def make_prune_plan(ctx: Context, req: PruneRequest) -> PrunePlan:
    """The prune plan of ``ctx``'s state (read-only; ``prune`` makes it again under the lock), less the
    objects rewritten since specrunner listed them (:func:`unchanged_only`)."""
    return unchanged_only(ctx, _plan(ctx, req), req)


def _plan(ctx: Context, req: PruneRequest) -> PrunePlan:
    check_owner(ctx)
    doc = ctx.state
    if doc is None:
        return PrunePlan()
    desired = {job.key for job in ctx.jobs}
    inputs = {job.input_ref for job in ctx.jobs}
    records = doc.jobs
    if req.targets or req.excludes:
        keys = set(records) | {r.job for r in doc.retired.values()} | desired
        try:
            chosen = select(keys, req.targets, req.excludes)
        except TargetError as e:
            e.hint = keys_hint(str(ctx.manifest_path))
            raise
        return plan_prune(records, doc.retired, desired.__contains__, chosen.__contains__, inputs)
    return plan_prune(records, doc.retired, desired.__contains__, inputs=inputs)


def unchanged_only(ctx: Context, plan: PrunePlan, req: PruneRequest | None = None) -> PrunePlan:
    """Keep (never delete) an object whose ETag now differs from the one specrunner recorded: someone
    wrote it since. Objects never listed (older states) are deleted as before. A listing that cannot be
    made is one error: nothing is deleted unverified."""
    refs = {d.object: "" for d in plan.deletions if d.etag is not None}
    if not refs:
        return plan
    from specrunner.backends import open_objects_lister
    from specrunner.ops.refresh import RefreshError, current_etags

    locations, default = _locations(ctx)
    refs = {o: locations.get(o.partition("/")[0], default) for o in refs}
    try:
        now = current_etags(
            refs, lambda: open_objects_lister(ctx.manifest), chunked=ctx.manifest.target.backend != "local"
        )
    except RefreshError as e:
        why = e.message.removeprefix("cannot refresh: ").replace("; nothing was planned", "")
        raise SpecrunnerError(
            f"prune cannot check the objects it would delete: {why}; nothing was deleted",
            hint=f"fix the cause, then run `{again(ctx, req)}` again",
        ) from None
    return keep_changed(plan, now)


def check_named(ctx: Context, plan: PrunePlan, req: PruneRequest | None = None) -> None:
    """Refuse to delete anything the state (as read under the lock) does not name."""
    doc = ctx.state
    named = names(doc.jobs.values(), doc.retired) if doc is not None else set()
    stray = [o for o in plan.objects if o not in named]
    if stray:
        raise StateError(
            f"refusing to delete {stray[0]}: the state {ctx.state_label} does not name it "
            f"({len(stray)} such object(s)); nothing was deleted",
            hint=f"prune deletes only objects the state records; `{again(ctx, req)}` plans again",
        )


def again(ctx: Context, req: PruneRequest | None = None) -> str:
    """``specrunner prune`` of this manifest, its ``--state``, its ``--target`` / ``--exclude`` (a
    pasted prune deletes no more than this one chose) and the variables' values, ready to paste."""
    from specrunner.validate.variables import given_options

    words = ["--state", ctx.state_arg] if ctx.state_arg else []
    for flag, globs in (("--target", req.targets if req else ()), ("--exclude", req.excludes if req else ())):
        for glob in globs:
            words += [flag, glob]
    return " ".join(
        ["specrunner prune", shellwords.path(ctx.manifest_path), *map(shellwords.quote, words)]
    ) + (given_options())


def open_deleter(ctx: Context) -> Deleter:
    """Files of the local engine's bucket folders, or OSS objects (the manifest's target)."""
    m = ctx.manifest
    if m.target.backend == "local":
        return LocalDeleter(Path(m.base_dir) / m.target.root)
    return OssDeleter(*_locations(ctx))


def _locations(ctx: Context) -> tuple[dict[str, str], str]:
    """bucket -> location from the manifest's rules and inputs, and the location of any other bucket."""
    m = ctx.manifest
    pairs = [(r.output_bucket, r.output_location) for r in m.rules]
    pairs += [(r.tile.bucket, r.tile.location) for r in m.rules if r.tile is not None]
    pairs += [(i.bucket, i.location) for i in m.inputs]
    default = next((loc for _, loc in pairs if loc), "")
    return output_locations(pairs), default


def prune(
    ctx: Context,
    req: PruneRequest,
    *,
    confirm: Callable[[PrunePlan], None] | None = None,
    deleter: Deleter | None = None,
) -> PruneOutcome:
    """Plan under the state's lock, ``confirm`` it (it raises to stop), delete, record."""
    started = time.monotonic()
    run = Run(ctx, "prune", req.lock_timeout)
    outcome = PruneOutcome(PrunePlan(), again=again(ctx, req))
    try:
        plan = outcome.plan = make_prune_plan(ctx, req)
        if confirm is not None:
            confirm(plan)
        if plan.has_changes:
            check_named(ctx, plan, req)
            store = run.store
            store.retire_outputs = True
            for key in plan.forget:  # its outputs go to `retired` in the same journal write
                store.delete(key)
            store.unretire(plan.settled)
            store.flush_durable()  # from here on a crash loses nothing: every object is named
            outcome.forgotten = list(plan.forget)
            if plan.deletions:
                done = _delete(ctx, plan, deleter)
                outcome.deleted, outcome.failed, outcome.stopped = done.gone, done.failed, done.stopped
                store.unretire(done.gone, durable=True)
                if done.interrupted:  # what was deleted is recorded: now the Ctrl-C ends the command
                    raise KeyboardInterrupt
    finally:
        outcome.state_changed = run.close()
        outcome.elapsed = time.monotonic() - started
    return outcome


def _delete(ctx: Context, plan: PrunePlan, deleter: Deleter | None) -> Deleted:
    own = deleter is None
    d = deleter or open_deleter(ctx)
    try:
        return d.delete(plan.objects)
    finally:
        if own:
            d.close()
