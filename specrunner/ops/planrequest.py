"""A plan asked for: which jobs (``PlanRequest``), planned against the context's state (``compute_plan``).

Invariants: a state another manifest owns is refused before planning (``context.check_owner``), and a
plan that would forget every job of a state named on purpose by a manifest known by its file name only
is refused after it (``check_takeover``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from specrunner.core.errors import StateError
from specrunner.core.plan import Plan, TargetError, keys_hint
from specrunner.ops.context import Context, check_owner, gc_paused
from specrunner.ops.planning import plan_jobs
from specrunner.ops.refresh import Refresh, now_utc, refresh_state


@dataclass
class PlanRequest:
    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    only_failed: bool = False
    replace: tuple[str, ...] = ()  # --replace: submitted again whatever the state says
    refresh: bool = True  # compare the recorded outputs and inputs with the buckets (--refresh=false: no)

    def options(self) -> list[str]:
        """The options that make this request, as typed (a command printed for pasting repeats them;
        ``only_failed`` is the ``retry`` command's, not an option)."""
        words = [*self.selection(), *(w for glob in self.replace for w in ("--replace", glob))]
        return words if self.refresh else [*words, "--refresh=false"]

    def selection(self) -> list[str]:
        """``--target`` / ``--exclude`` as typed: the jobs this request is about. A command printed to
        act on the same jobs (a prune, a retry) repeats them; never ``--replace``, which pasted would
        submit its jobs once more."""
        return [
            w
            for flag, globs in (("--target", self.targets), ("--exclude", self.excludes))
            for g in globs
            for w in (flag, g)
        ]


def compute_plan(ctx: Context, req: PlanRequest) -> Plan:
    """The plan of ``req`` against the context's state, refreshed against the buckets first unless
    ``req.refresh`` is off (``ops.refresh``; what it found stays in ``ctx.refreshed``)."""
    check_owner(ctx)
    try:
        with gc_paused():  # the refresh's reading of the lines too: no full collection over the state
            drift = refresh_context(ctx, req).drift
            plan = plan_jobs(
                ctx.jobs,
                ctx.state,
                targets=req.targets,
                excludes=req.excludes,
                only_failed=req.only_failed,
                replace=req.replace,
                moved=ctx.manifest.moved,
                manifest=str(ctx.manifest_path),
                drift=drift,
            )
    except TargetError as e:
        e.hint = keys_hint(str(ctx.manifest_path))
        raise
    check_takeover(ctx, plan)
    return plan


def refresh_context(ctx: Context, req: PlanRequest) -> Refresh:
    """The refresh of the context's state (``ops.refresh``), kept in ``ctx.refreshed``."""
    if not req.refresh:
        off = ctx.refreshed = Refresh(at=now_utc(), enabled=False)
        return off

    def lister() -> Any:
        from specrunner.backends import open_objects_lister

        return open_objects_lister(ctx.manifest)

    found = ctx.refreshed = refresh_state(
        ctx.state,
        lister,
        targets=req.targets,
        excludes=req.excludes,
        known_inputs=ctx.input_etags,
        chunked=ctx.manifest.target.backend != "local",
    )
    return found


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
