"""The commands that plan and run jobs: ``plan``, ``apply`` and ``retry`` (an apply of the failed jobs).

``plan``'s work is ``cli.plancmd.run_plan`` (which ``cli.fast`` runs without typer); ``apply`` and
``retry`` are one command built twice (:func:`_run_command`): the same options, the same run. Only
stdlib, typer and ``cli.options`` are imported at module level; the rest (``specrunner.ops``
and the renderers) inside the commands, so that start-up (completion, ``--help``) never loads it.

No ``from __future__ import annotations`` (as in ``cli.main``): typer reads the annotations of every
command at each start; as strings each one is compiled and evaluated again.
"""

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from typer._click.core import ParameterSource
from typer.models import ArgumentInfo

from specrunner.cli.options import (
    MANIFEST,
    AutoApproveOpt,
    ExcludeOpt,
    LockTimeoutOpt,
    ManifestArg,
    NoColorOpt,
    NoWaitOpt,
    ParallelismOpt,
    QuietOpt,
    RefreshOpt,
    ReplaceOpt,
    RunFmt,
    RunFormatOpt,
    StateOpt,
    TargetOpt,
    TimeoutOpt,
    VarFileOpt,
    VarOpt,
    VerboseOpt,
    errors_follow,
)
from specrunner.core import shellwords
from specrunner.core.errors import SpecrunnerError

if TYPE_CHECKING:
    from specrunner.core.plan import Plan
    from specrunner.ops.context import Context
    from specrunner.ops.execute import ApplyOutcome
    from specrunner.ops.planrequest import PlanRequest
    from specrunner.render.style import Style


def plan(
    manifest: ManifestArg,
    state: StateOpt = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Save the plan to FILE for `apply FILE`.")
    ] = None,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode", help="Exit 0: no changes, 1: error (a mistyped flag too), 2: changes."
        ),
    ] = False,
    target: TargetOpt = None,
    exclude: ExcludeOpt = None,
    replace: ReplaceOpt = None,
    fmt: RunFormatOpt = RunFmt.text,
    show_unchanged: Annotated[
        bool, typer.Option("--show-unchanged", help="List unchanged jobs too.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="List every job: each key of a group, unchanged jobs too (all in JSON)."
        ),
    ] = False,
    no_color: NoColorOpt = False,
    refresh: RefreshOpt = True,
) -> None:
    """Show what apply would do, job by job: create, replace, retry, resume, forget; sync or async; why.

    Example: specrunner plan specs/demo.yaml --out demo.plan.json --detailed-exitcode
    """
    from specrunner.cli.plancmd import run_plan

    raise typer.Exit(
        run_plan(
            manifest,
            state,
            out,
            detailed_exitcode,
            target,
            exclude,
            fmt.value,
            show_unchanged,
            replace,
            verbose=verbose,
            no_color=no_color,
            refresh=refresh,
        )
    )


def _run_command(
    name: str, manifest_arg: ArgumentInfo, *, only_failed: bool, doc: str
) -> Callable[..., None]:
    """The ``apply`` command (``only_failed=False``) or ``retry`` (only the jobs whose last outcome is
    Fail): the same options, told apart by the manifest argument's help and the docstring."""

    def command(
        click_ctx: typer.Context,
        manifest: Annotated[Path, manifest_arg],
        state: StateOpt = None,
        var: VarOpt = None,
        var_file: VarFileOpt = None,
        parallelism: ParallelismOpt = 10,
        no_wait: NoWaitOpt = False,
        timeout: TimeoutOpt = None,
        lock_timeout: LockTimeoutOpt = 0.0,
        target: TargetOpt = None,
        exclude: ExcludeOpt = None,
        replace: ReplaceOpt = None,
        fmt: RunFormatOpt = RunFmt.text,
        quiet: QuietOpt = False,
        verbose: VerboseOpt = False,
        auto_approve: AutoApproveOpt = False,
        no_color: NoColorOpt = False,
        refresh: RefreshOpt = True,
    ) -> None:
        _run_apply(
            manifest,
            state,
            parallelism,
            no_wait,
            timeout,
            lock_timeout,
            target,
            exclude,
            fmt,
            quiet,
            verbose,
            only_failed=only_failed,
            auto_approve=auto_approve,
            replace=replace,
            no_color=no_color,
            refresh=refresh,
            refresh_given=click_ctx.get_parameter_source("refresh") == ParameterSource.COMMANDLINE,
        )

    command.__name__ = command.__qualname__ = name
    command.__doc__ = doc
    return command


apply = _run_command(
    "apply",
    typer.Argument(
        help="The manifest (YAML), or a plan file saved by `plan --out`.",
        show_default=False,
        metavar="MANIFEST|PLANFILE",
    ),
    only_failed=False,
    doc="""Apply the manifest (or a saved plan): submit, poll, and record every job in the state file.

    Example: specrunner apply specs/demo.yaml --parallelism 20
    """,
)
retry = _run_command(
    "retry",
    MANIFEST,
    only_failed=True,
    doc="""Rerun only the jobs whose last outcome is Fail (an apply restricted to failures).

    Example: specrunner retry specs/demo.yaml
    """,
)


def _run_apply(
    manifest: Path,
    state: Path | None,
    parallelism: int,
    no_wait: bool,
    timeout: float | None,
    lock_timeout: float,
    target: list[str] | None,
    exclude: list[str] | None,
    fmt: RunFmt,
    quiet: bool,
    verbose: bool,
    *,
    only_failed: bool,
    auto_approve: bool,
    replace: list[str] | None = None,
    no_color: bool = False,
    refresh: bool = True,
    refresh_given: bool = False,
) -> NoReturn:
    from specrunner.cli.approval import Approval
    from specrunner.cli.errors import command_args, command_line, record_command
    from specrunner.cli.interrupts import install_signal_handlers
    from specrunner.cli.plancmd import left_out, terminal
    from specrunner.ops.context import load_context
    from specrunner.ops.execute import ApplyOptions, apply
    from specrunner.ops.planrequest import PlanRequest
    from specrunner.ops.savedplan import is_plan_file, load_saved_plan, saved_context, saved_request
    from specrunner.render.json import write_run_results
    from specrunner.render.progress import Progress
    from specrunner.validate.variables import give

    errors_follow(fmt)
    saved = None
    if is_plan_file(manifest):
        command_args.set(None)  # no manifest known yet: hints keep MANIFEST until the plan names it
        if only_failed:
            raise SpecrunnerError(
                f"{manifest} is a saved plan: retry takes a manifest (a saved plan is applied as it was "
                "made)",
                hint=f"`specrunner apply {shellwords.path(manifest)}` applies it",
            )
        saved = load_saved_plan(manifest)
        ctx = saved_context(saved)
        # From here on, what this command prints to paste names the plan's manifest, state and values.
        record_command(str(ctx.manifest_path), ctx.state_arg)
        give(saved=saved.get("variables") or {})
        req = saved_request(
            saved,
            manifest,
            ctx,
            targets=target or (),
            excludes=exclude or (),
            replace=replace or (),
            refresh=refresh if refresh_given else None,
            state=None if state is None else str(state),
        )
    else:
        ctx = load_context(manifest, state)
        req = PlanRequest(
            tuple(target or ()), tuple(exclude or ()), only_failed, tuple(replace or ()), refresh=refresh
        )
        if only_failed and ctx.state is None:
            if fmt == RunFmt.json:  # the document of a run that did nothing: stdout stays JSON
                from specrunner.apply.results import RunSummary
                from specrunner.core.plan import Plan
                from specrunner.ops.execute import ApplyOutcome
                from specrunner.render.json import apply_document, dumps

                nothing = ApplyOutcome(Plan(), RunSummary(), False, None, {})
                typer.echo(dumps(apply_document(nothing)))
                raise typer.Exit(0)
            typer.echo(
                f"Nothing to retry: there is no state file at {ctx.state_path} yet, so no job has "
                f"failed. Run `{command_line('apply', manifest)}` first."
            )
            raise typer.Exit(0)
    progress = Progress(quiet=quiet or fmt != RunFmt.text, verbose=verbose)
    style = terminal(no_color=no_color, verbose=verbose)
    opts = ApplyOptions(parallelism=parallelism, wait=not no_wait, lock_timeout=lock_timeout, timeout=timeout)
    approval = Approval(
        backend=ctx.manifest.target.backend,
        manifest=str(ctx.manifest_path),
        text=fmt == RunFmt.text,
        quiet=quiet,
        auto_approve=auto_approve,
        saved_plan=saved is not None,
        command="retry" if only_failed else "apply",
        selection=tuple(req.options()),
        jobs=tuple(req.selection()),
        refresh=req.refresh,
        style=style,
        left_out=lambda p: _left_out(left_out, ctx, req, p),
    )
    outcome = apply(
        ctx,
        req,
        opts,
        on_event=progress.event,
        saved_plan=saved,
        executor_hook=lambda ex: install_signal_handlers(ex, ctx.manifest_path),
        confirm=approval,
    )
    outcome.run_file = write_run_results(ctx, outcome)
    progress.close()
    _print_outcome(outcome, ctx, req, fmt, quiet=quiet, plan_shown=approval.printed, style=style)
    raise typer.Exit(outcome.exit_code())


def _left_out(count: "Callable[..., int]", ctx: "Context", req: "PlanRequest", plan: "Plan") -> int:
    """How many changes --target / --exclude leave out (0 if the whole plan cannot be made)."""
    try:
        return count(ctx, req, plan)
    except SpecrunnerError:
        return 0


def _print_outcome(
    outcome: "ApplyOutcome",
    ctx: "Context",
    req: "PlanRequest",
    fmt: RunFmt,
    *,
    quiet: bool,
    plan_shown: bool,
    style: "Style",
) -> None:
    """What the run did, in ``fmt``: a pull-request comment, a JSON document, or the text summary. The
    commands it names to paste act on the run's jobs only (its ``--target`` / ``--exclude``): a prune
    without them would delete what other jobs left, an apply would make the changes left out."""
    from specrunner.cli.errors import command_line, document_started
    from specrunner.render import text as render
    from specrunner.render.json import apply_document, dumps
    from specrunner.statefile.locking import describe as describe_lock

    if fmt == RunFmt.markdown:
        from specrunner.render.markdown import apply_markdown

        hint = f"the run results file `{outcome.run_file}`" if outcome.run_file else "`--format json`"
        typer.echo(
            apply_markdown(outcome.plan, outcome.summary, str(ctx.manifest_path), json_hint=hint), nl=False
        )
    elif fmt == RunFmt.json:
        document_started.set(True)  # a second Ctrl-C from here on adds no error document
        typer.echo(dumps(apply_document(outcome)))
    else:
        if outcome.stale_lock and "unrenewed_s" in outcome.stale_lock:
            typer.echo(
                f"note: took over the lock of {describe_lock(outcome.stale_lock)}: its lease stayed "
                f"unrenewed for {outcome.stale_lock['unrenewed_s']:g} s as this runner watched it (the "
                "process is gone, or frozen: then it can no longer submit)",
                err=True,
            )
        elif outcome.stale_lock:
            typer.echo(
                f"note: cleaned up lock info left by a process that is gone "
                f"({describe_lock(outcome.stale_lock)})",
                err=True,
            )
        rec = outcome.summary.recovered_adopted + outcome.summary.recovered_resubmitted
        if rec:
            typer.echo(
                f"{rec} interrupted submission{'s' if rec != 1 else ''} found: "
                f"{outcome.summary.recovered_adopted} adopted, "
                f"{outcome.summary.recovered_resubmitted} resubmitted."
            )
        if not quiet and not plan_shown:
            typer.echo(render.summary_text(render.plan_summary_line(outcome.plan), style))
        narrowed = [*req.selection(), *([] if req.refresh else ["--refresh=false"])]
        typer.echo(render.run_text(outcome.summary, str(ctx.manifest_path), style, narrowed))
        retired = outcome.extra.get("retired", 0)
        if retired and not quiet:
            typer.echo(
                f"{retired} object{'s' if retired != 1 else ''} that only replaced or forgotten jobs "
                "named stay in the bucket, recorded in the state: "
                f"`{command_line('prune', ctx.manifest_path, *req.selection())}` deletes them."
            )
        if outcome.state_changed:
            typer.echo(f"State written to {ctx.state_path}.")
        elif not quiet:
            typer.echo(f"State unchanged: {ctx.state_path}.")
