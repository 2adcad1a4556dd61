"""``specrunner plan``: the command's work and output, without the CLI framework.

The typer command (``cli.runcmds.plan``) parses the options and calls :func:`run_plan`; ``cli.fast``
calls it directly for the plain ``specrunner plan MANIFEST`` that scripts, hooks and CI run most, so
that its start-up is not the framework's. Errors are raised (and mapped by ``cli.errors``), never
printed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from specrunner.cli.errors import echo, json_errors
from specrunner.core.errors import EXIT_CHANGES, EXIT_OK, SpecrunnerError


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
        # The document (and the state digest in it) only for a saved plan or JSON output: the text of a
        # no-op plan of many jobs must not pay for hashing every record.
        doc = plan_document(ctx, p, req) if out or fmt == "json" else {}
        if out:
            save_plan(doc, out)
    except SpecrunnerError:
        if fmt == "json":
            json_errors.set(True)
        raise
    if fmt == "json":
        echo(dumps(doc))
    elif fmt == "markdown":
        from specrunner.render.markdown import plan_markdown

        echo(
            plan_markdown(
                p,
                str(manifest),
                show_unchanged=show_unchanged,
                json_hint=f"`specrunner plan {manifest} --format json`",
            ),
            nl=False,
        )
    else:
        for line in _discovery_lines(ctx):
            echo(line)
        refreshed = ctx.refreshed.line() if ctx.refreshed is not None else None
        if refreshed:
            echo(refreshed)
        echo(
            render.plan_text(
                p, show_unchanged=show_unchanged, recovery=_recovery_note(p), manifest=str(manifest)
            )
        )
        if out:
            echo(f"\nSaved the plan to {out}. Apply exactly this plan with: specrunner apply {out}")
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
