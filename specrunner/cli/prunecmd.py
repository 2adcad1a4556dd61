"""``prune``: delete the output objects that only forgotten or replaced jobs named (``ops.prune``).

It prints its plan first; ``--dry-run`` stops there (``--detailed-exitcode``: 2 when something would
be deleted). Then, as ``apply`` for cloud work, it asks for `yes` on a paid backend (``aliyun``)
unless ``--auto-approve``, and never asks on the local engine. A delete that fails is one error (exit
1); what was not deleted stays recorded for the next prune. With ``--format json`` the one document
says which deletes failed and why (``failed``, ``error``, ``exit_code``); it is never followed by a
second (error) document.

No ``from __future__ import annotations`` (as in ``cli.main``): typer reads the annotations.
"""

from typing import Annotated

import typer

from specrunner.cli.options import (
    AutoApproveOpt,
    ExcludeOpt,
    Fmt,
    FormatOpt,
    LockTimeoutOpt,
    ManifestArg,
    StateOpt,
    TargetOpt,
    VarFileOpt,
    VarOpt,
    errors_follow,
)


def prune(
    manifest: ManifestArg,
    state: StateOpt = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    target: TargetOpt = None,
    exclude: ExcludeOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be deleted; delete nothing.")
    ] = False,
    detailed_exitcode: Annotated[
        bool,
        typer.Option("--detailed-exitcode", help="With --dry-run, exit 2 when something would be deleted."),
    ] = False,
    lock_timeout: LockTimeoutOpt = 0.0,
    auto_approve: AutoApproveOpt = False,
    fmt: FormatOpt = Fmt.text,
) -> None:
    """Delete the output objects that only forgotten or replaced jobs named; record what was deleted.

    Example: specrunner prune specs/demo.yaml --dry-run
    """
    from specrunner.cli.approval import PAID_BACKENDS, ask
    from specrunner.cli.plancmd import terminal
    from specrunner.core.retired import PrunePlan
    from specrunner.ops.context import load_context
    from specrunner.ops.planrequest import PlanRequest
    from specrunner.ops.prune import PruneRequest, make_prune_plan
    from specrunner.ops.prune import prune as run_prune
    from specrunner.render import prune as render
    from specrunner.render.json import dumps

    errors_follow(fmt)
    text = fmt == Fmt.text
    width = terminal().width
    ctx = load_context(manifest, state)
    req = PruneRequest(tuple(target or ()), tuple(exclude or ()), lock_timeout)
    if dry_run:
        plan = make_prune_plan(ctx, req)
        typer.echo(render.plan_text(plan, width) if text else dumps(render.prune_document(plan)))
        raise typer.Exit(2 if detailed_exitcode and plan.deletions else 0)
    backend = ctx.manifest.target.backend

    def confirm(plan: PrunePlan) -> None:
        if text:
            typer.echo(render.plan_text(plan, width))
        if not plan.deletions:
            return
        if text:
            typer.echo("")
        if backend in PAID_BACKENDS and not auto_approve:
            ask(
                refused=f"delete {len(plan.deletions)} object(s) on {backend}",
                command="prune",
                manifest=str(ctx.manifest_path),
                text=text,
                selection=tuple(PlanRequest(tuple(target or ()), tuple(exclude or ())).options()),
                preview="specrunner prune --dry-run" if not text else None,
                question=render.question(plan, backend),
                nothing="nothing was deleted",
            )

    outcome = run_prune(ctx, req, confirm=confirm)
    if outcome.plan.has_changes:
        outcome.run_file = render.write_prune_results(ctx, outcome)
    err = outcome.error
    if not text:  # one document, the failed deletes and their error in it: never a second one
        typer.echo(dumps(render.prune_document(outcome.plan, outcome)))
        raise typer.Exit(0 if err is None else err.exit_code)
    if outcome.plan.has_changes:
        typer.echo(render.result_text(outcome, ctx.state_label))
    if err is not None:
        raise err
    raise typer.Exit(0)
