"""The ``preview`` and ``report`` commands (registered in ``specrunner.cli.main``).

Exit codes: 0 the page was written (whatever the jobs' outcomes: they are on the page); 1 error.
Module imports: stdlib and typer only; the rest is imported when a command runs.

No ``from __future__ import annotations`` (as in ``cli.main``): typer reads the annotations of every
command at each start; as strings, each one is compiled and evaluated again (~4 ms of every start).
"""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from specrunner.cli.options import ExcludeOpt, TargetOpt, VarFileOpt, VarOpt

if TYPE_CHECKING:
    from specrunner.ops.context import Context
    from specrunner.ops.refresh import Refresh


def preview(
    manifest: Annotated[Path, typer.Argument(help="The manifest (YAML).", show_default=False)],
    sample: Annotated[
        Path | None,
        typer.Option(
            "--sample",
            help="Folder of local videos standing in for the inputs (required for an aliyun target): "
            "matched by file name, else used in name order, cycling.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the contact sheet. Default: <scratch folder>/report."),
    ] = None,
    first: Annotated[
        int | None,
        typer.Option(
            "--first",
            min=1,
            help="Inputs without a same-named sample cycle through only the first N samples.",
        ),
    ] = None,
    target: TargetOpt = None,
    exclude: ExcludeOpt = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
) -> None:
    """Run the rules on the local engine in a scratch folder and write a contact sheet of every job.

    Nothing is submitted to MTS; the state file and the output buckets are never touched. The
    scratch folder is <manifest dir>/.specrunner/preview/<stem>/ (git-ignored), emptied each time.

    Example: specrunner preview specs/site.yaml --sample ~/clips
    """
    from specrunner.render.progress import Progress
    from specrunner.render.text import run_text
    from specrunner.report.preview import run_preview
    from specrunner.validate.yamlload import display_path as display

    progress = Progress()
    try:
        result = run_preview(
            manifest,
            sample_dir=sample,
            first=first,
            out=out,
            on_event=progress.event,
            targets=tuple(target or ()),
            excludes=tuple(exclude or ()),
        )
    finally:
        progress.close()
    typer.echo(
        f"Preview of {display(manifest)} on the local engine: nothing submitted, "
        "the state file and output buckets untouched."
    )
    typer.echo("Inputs:")
    width = max((len(a.input_id) for a in result.assignments), default=0)
    for a in result.assignments:
        typer.echo(f"  {a.input_id:<{width}}  {a.how}")
    typer.echo(run_text(result.outcome.summary))
    typer.echo(f"Scratch folder: {display(result.scratch)}")
    typer.echo(f"Contact sheet: {display(result.index)}")


def report(
    manifest: Annotated[Path, typer.Argument(help="The manifest (YAML).", show_default=False)],
    state: Annotated[
        Path | None, typer.Option("--state", help="State file. Default: <manifest dir>/<stem>.lock.json.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for index.html and images/. Default: <manifest dir>/.specrunner/report/<stem>/.",
        ),
    ] = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
) -> None:
    """Write a static HTML contact sheet of every job: state, errors, snapshots in time order.

    Self-contained (index.html + images/, no network), so the folder can be zipped and attached to a
    review. For an aliyun target the page lists the OSS objects instead of images. Read-only: the
    state is not locked or written.

    Example: specrunner report specs/demo.yaml --out review/
    """
    from specrunner.ops.context import load_context
    from specrunner.report.build import collect, default_out, ensure_ignored, local_root, write_report
    from specrunner.validate.yamlload import display_path as display

    ctx = load_context(manifest, state)
    refreshed, problem = _refresh(ctx)
    rep = collect(
        ctx.manifest,
        ctx.jobs,
        ctx.state,
        title=f"Contact sheet · {manifest.name}",
        manifest_label=display(manifest),
        state_label=_near(ctx.state_path, manifest),
        root=local_root(ctx.manifest),
        refreshed=refreshed,
    )
    if problem:
        rep.banner.append(f"The outputs were not checked against the buckets: {problem}")
    elif refreshed is not None and refreshed.jobs:
        rep.banner.append(
            f"Outputs checked against the buckets at {refreshed.at}: {refreshed.missing} missing, "
            f"{refreshed.changed} changed."
        )
    if ctx.state is None:
        rep.banner.append(f"No state file at {display(ctx.state_path)} yet: nothing has been applied.")
    if out is None:
        out = default_out(manifest)
        ensure_ignored(out.parent.parent)
    index = write_report(rep, out)
    c = rep.counts()
    shown = ", ".join(f"{n} {s}" for s, n in c.items() if n) or "no jobs"
    typer.echo(f"Report of {sum(c.values())} job(s): {shown}.")
    typer.echo(f"Contact sheet: {display(index)}")


def _refresh(ctx: "Context") -> "tuple[Refresh | None, str | None]":
    """The refresh of the state (read-only): what the buckets hold of the recorded outputs."""
    from specrunner.ops.planrequest import PlanRequest, refresh_context
    from specrunner.ops.refresh import RefreshError

    try:
        return refresh_context(ctx, PlanRequest()), None
    except RefreshError as e:
        return None, e.message


def _near(path: Path, manifest: Path) -> str:
    """``path`` relative to the manifest's folder when it is inside it (what a reviewer recognises)."""
    import os

    p, base = path.resolve(), manifest.resolve().parent
    return os.path.relpath(p, base) if base in p.parents else str(path)
