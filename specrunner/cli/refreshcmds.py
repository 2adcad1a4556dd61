"""The commands that record what MTS already has, submitting nothing: ``refresh`` (poll the jobs that are
not final) and ``import`` (adopt an existing job).

Only stdlib, typer and ``cli.options`` are imported at module level; ``specrunner.ops`` and the
renderers inside the commands, so that start-up (completion, ``--help``) never loads them.

No ``from __future__ import annotations`` (as in ``cli.main``): typer reads the annotations of every
command at each start; as strings each one is compiled and evaluated again.
"""

from typing import Annotated

import typer

from specrunner.cli.options import (
    Fmt,
    FormatOpt,
    KeyArg,
    LockTimeoutOpt,
    ManifestArg,
    StateOpt,
    VarFileOpt,
    VarOpt,
    errors_follow,
)
from specrunner.core.errors import EXIT_FAILED, EXIT_OK, EXIT_PENDING


def refresh(
    manifest: ManifestArg,
    state: StateOpt = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Poll once; do not wait for running jobs to finish.")
    ] = False,
    fmt: FormatOpt = Fmt.text,
) -> None:
    """Poll every job that is not final and record its outcome. Submits nothing.

    Example: specrunner refresh specs/demo.yaml --no-wait
    """
    from specrunner.ops.context import load_context
    from specrunner.ops.execute import ApplyOptions
    from specrunner.ops.execute import refresh as run_refresh
    from specrunner.render.json import dumps, refresh_document

    errors_follow(fmt)
    ctx = load_context(manifest, state)
    outcome = run_refresh(ctx, ApplyOptions(wait=not no_wait, lock_timeout=lock_timeout))
    c = outcome.summary.counts()
    if fmt == Fmt.json:
        typer.echo(dumps(refresh_document(outcome)))
    else:
        typer.echo(
            f"Refresh: {len(outcome.plan.changes)} job(s) not final; {c['succeeded']} succeeded, "
            f"{c['failed']} failed, {c['pending']} still running or unresolved, {c['adopted']} adopted."
        )
        typer.echo(f"State {'written to' if outcome.state_changed else 'unchanged:'} {ctx.state_path}.")
    raise typer.Exit(EXIT_FAILED if c["failed"] else EXIT_PENDING if c["pending"] else EXIT_OK)


def import_(
    manifest: ManifestArg,
    key: KeyArg,
    job_id: Annotated[
        str, typer.Argument(help="The MTS job id to adopt.", show_default=False, metavar="JOB_ID")
    ],
    state: StateOpt = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
) -> None:
    """Adopt an existing job into the state, after checking it exists and matches the rule.

    Example: specrunner import specs/demo.yaml videos/intro.mp4::poster 88c6ca184c0e47098a5b665e2a126797
    """
    from specrunner.ops.context import load_context
    from specrunner.ops.records import import_job

    ctx = load_context(manifest, state)
    rec = import_job(ctx, key, job_id, lock_timeout=lock_timeout)
    typer.echo(f"Imported {key} -> {job_id} ({rec.state}).")
