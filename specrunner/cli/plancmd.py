"""``specrunner plan``: the command's work and output, without the CLI framework.

The typer command (``cli.runcmds.plan``) parses the options and calls :func:`run_plan`; ``cli.fast``
calls it directly for the plain ``specrunner plan MANIFEST`` that scripts, hooks and CI run most, so
that its start-up is not the framework's. Errors are raised (and mapped by ``cli.errors``), never
printed here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specrunner.cli.errors import command_line, echo, json_errors
from specrunner.core import shellwords
from specrunner.core.errors import EXIT_CHANGES, EXIT_OK, SpecrunnerError

if TYPE_CHECKING:
    from specrunner.core.plan import Plan
    from specrunner.ops.context import Context
    from specrunner.ops.planrequest import PlanRequest
    from specrunner.render.style import Style


def terminal(*, no_color: bool = False, verbose: bool = False) -> Style:
    """How text output is laid out here: colour only on a terminal (never with ``--no-color`` or
    ``NO_COLOR`` set; ``FORCE_COLOR`` forces it, for CI logs that show colours), and the terminal's
    width (``COLUMNS`` wins; piped: 80 columns)."""
    from specrunner.render.style import WIDTH, Style

    tty = sys.stdout.isatty()
    if no_color or os.environ.get("NO_COLOR"):
        color = False
    elif os.environ.get("FORCE_COLOR", "") not in ("", "0"):
        color = True
    else:
        color = tty and os.environ.get("TERM") != "dumb"
    width = WIDTH
    columns = os.environ.get("COLUMNS", "")
    sized = tty or columns.isdigit()
    if columns.isdigit():
        width = int(columns)
    elif tty:
        try:
            width = os.get_terminal_size(sys.stdout.fileno()).columns or WIDTH  # 0: size unknown
        except (OSError, ValueError):
            pass
    return Style(width=max(width, 40), color=color, verbose=verbose, sized=sized)


def left_out(ctx: Context, req: PlanRequest, plan: Plan) -> int:
    """How many changes of the manifest ``--target`` / ``--exclude`` leave out of ``plan`` (0 when
    neither is given): what the plan without them would change and this one does not."""
    if not req.targets and not req.excludes:
        return 0
    from dataclasses import replace

    from specrunner.core.plan import NOT_CHANGES
    from specrunner.ops.planrequest import compute_plan

    whole = compute_plan(ctx, replace(req, targets=(), excludes=()))
    kept = {c.key for c in plan.active}
    return sum(1 for c in whole.active if c.action not in NOT_CHANGES and c.key not in kept)


def run_plan(
    manifest: Path,
    state: Path | None = None,
    out: Path | None = None,
    detailed_exitcode: bool = False,
    target: list[str] | None = None,
    exclude: list[str] | None = None,
    fmt: str = "text",
    show_unchanged: bool = False,
    replace: list[str] | None = None,
    verbose: bool = False,
    no_color: bool = False,
    *,
    refresh: bool = True,
) -> int:
    """Print the plan of ``manifest`` in ``fmt`` (text, json, markdown); return the exit code."""
    from specrunner.ops.context import load_context
    from specrunner.ops.planrequest import PlanRequest, compute_plan
    from specrunner.render import text as render
    from specrunner.render.json import dumps, plan_document, save_plan

    try:
        ctx = load_context(manifest, state)
        req = PlanRequest(
            tuple(target or ()), tuple(exclude or ()), replace=tuple(replace or ()), refresh=refresh
        )
        p = compute_plan(ctx, req)
        skipped = left_out(ctx, req, p)
        # The document (and the state digest in it) only for a saved plan or JSON output: the text of a
        # no-op plan of many jobs must not pay for hashing every record.
        doc = plan_document(ctx, p, req) if out or fmt == "json" else {}
        if out:
            try:
                save_plan(doc, out)
            except OSError as e:
                raise SpecrunnerError(
                    f"--out {out}: cannot write the plan: {e.strerror or e}",
                    hint=f"create the folder {out.parent} first, or give --out a path in a folder that exists"
                    if not out.parent.is_dir()
                    else "give --out a path you can write",
                ) from None
    except SpecrunnerError:
        if fmt == "json":
            json_errors.set(True)
        raise
    if fmt == "json":
        from specrunner.render.json import with_groups

        echo(dumps(with_groups(doc, p, skipped)))
    elif fmt == "markdown":
        from specrunner.render.markdown import plan_markdown

        echo(
            plan_markdown(
                p,
                str(manifest),
                show_unchanged=show_unchanged or verbose,
                json_hint=f"`{command_line('plan', manifest, *req.options(), '--format', 'json')}`",
                verbose=verbose,
                left_out=skipped,
                refresh=refresh,
                selection=req.selection(),
            ),
            nl=False,
        )
    else:
        for line in _discovery_lines(ctx):
            echo(line)
        style = terminal(no_color=no_color, verbose=verbose)
        refreshed = ctx.refreshed.line(verbose=verbose) if ctx.refreshed is not None else None
        if refreshed:  # what the refresh found (all as recorded: said with -v only)
            from specrunner.render.style import paragraph

            echo(paragraph(refreshed, style.width).rstrip("\n"))
        echo(
            render.plan_text(
                p,
                show_unchanged=show_unchanged or verbose,
                recovery=_recovery_note(p),
                manifest=str(manifest),
                style=style,
                left_out=skipped,
                refresh=refresh,
                selection=req.selection(),
            )
        )
        if out:
            echo(
                f"\nSaved the plan to {out}. Apply exactly this plan with: "
                f"specrunner apply {shellwords.path(out)}"
            )
    return EXIT_CHANGES if detailed_exitcode and p.has_changes else EXIT_OK


def _discovery_lines(ctx: Any) -> list[str]:
    return [
        f"Discovered {n} input{'s' if n != 1 else ''} in {d.bucket}/{d.prefix} matching {d.match} "
        f"(inputs[{d.index}])."
        for d, n in ctx.discovered
    ]


def _recovery_note(p: Any) -> str | None:
    n = len(p.by_action("recover"))
    if not n:
        return None
    return (
        f"{n} interrupted submission{'s' if n != 1 else ''} found: each is looked up by its tag and "
        "adopted if it exists, resubmitted only if absent."
    )
