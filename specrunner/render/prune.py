"""What ``prune`` shows and writes: its plan as text, what it did, its JSON document and run file.

The plan lists every object, grouped by where the state names it, each as
``- delete bucket/key (from KEY, job ID)``, after one summary line (``Prune: N objects to delete``).
Nothing is cut: a reviewer sees every object before anything is deleted; a line wider than the
terminal puts where the object comes from on the lines under it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from specrunner import __version__
from specrunner.render.json import FORMAT_VERSION, write_run_file
from specrunner.render.style import WIDTH, wrap

if TYPE_CHECKING:
    from datetime import datetime

    from specrunner.core.retired import Deletion, PrunePlan
    from specrunner.ops.context import Context
    from specrunner.ops.prune import PruneOutcome

NOTHING = "Nothing to prune: the state names no object that only forgotten or replaced jobs wrote."


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def summary_line(plan: PrunePlan) -> str:
    parts = [f"Prune: {_n(len(plan.deletions), 'object')} to delete"]
    if plan.kept:
        parts.append(f"{len(plan.kept)} kept")
    line = ", ".join(parts)
    if plan.forget:
        line += f", {_n(len(plan.forget), 'record')} of jobs no longer in the manifest to forget"
    return line + "."


def _origin(d: Deletion) -> str:
    job = f", job {d.job_id}" if d.job_id else ""
    return f"from {d.job}{job}"


def _item(head: str, d: Deletion, tail: str, width: int) -> list[str]:
    """``head object (from KEY, job ID)tail`` on one line when it fits ``width``; else the object
    alone on its line (never cut) and where it comes from wrapped under it."""
    line = f"{head} {d.object} ({_origin(d)}){tail}"
    if len(line) <= width:
        return [line]
    return [f"{head} {d.object}", *wrap(f"({_origin(d)}){tail}", width, first="      ", indent=6)]


def plan_text(plan: PrunePlan, width: int = WIDTH) -> str:
    if not plan.has_changes and not plan.kept:
        return NOTHING
    lines = wrap(summary_line(plan), width)
    forgotten = [d for d in plan.deletions if d.source == "forgotten"]
    retired = [d for d in plan.deletions if d.source == "retired"]
    if forgotten:
        lines += ["", f"Outputs of jobs no longer in the manifest ({len(forgotten)}):"]
        lines += [x for d in forgotten for x in _item("  - delete", d, "", width)]
    if retired:
        lines += ["", f"Left behind by replaced or forgotten jobs ({len(retired)}):"]
        lines += [x for d in retired for x in _item("  - delete", d, "", width)]
    if plan.kept:
        lines += ["", f"Kept ({len(plan.kept)}):"]
        lines += [x for d in plan.kept for x in _item("  = keep", d, f": {d.kept}", width)]
    return "\n".join(lines)


def question(plan: PrunePlan, backend: str) -> list[str]:
    return [
        f"Do you want to delete these objects on {backend}?",
        f"  {_n(len(plan.deletions), 'object')} will be deleted; this cannot be undone.",
    ]


def result_text(outcome: PruneOutcome, state_label: str) -> str:
    lines = []
    total = len(outcome.plan.deletions)
    if total:
        lines.append(f"Deleted {len(outcome.deleted)} of {_n(total, 'object')}.")
    if outcome.forgotten:
        lines.append(f"Forgot {_n(len(outcome.forgotten), 'record')} of jobs no longer in the manifest.")
    if outcome.state_changed:
        lines.append(f"State written to {state_label}.")
    else:
        lines.append(f"State unchanged: {state_label}.")
    return "\n".join(lines)


def _row(d: Deletion) -> dict[str, Any]:
    row: dict[str, Any] = {"object": d.object, "job": d.job, "job_id": d.job_id, "source": d.source}
    if d.kept:
        row["reason"] = d.kept
    return row


def prune_document(plan: PrunePlan, outcome: PruneOutcome | None = None) -> dict[str, Any]:
    """``prune --format json``: the plan, and (unless a dry run) what was deleted."""
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "kind": "specrunner-prune",
        "dry_run": outcome is None,
        "summary": {"delete": len(plan.deletions), "kept": len(plan.kept), "forget": len(plan.forget)},
        "deletions": [_row(d) for d in plan.deletions],
        "kept": [_row(d) for d in plan.kept],
        "forget": list(plan.forget),
    }
    if outcome is not None:
        doc["deleted"] = list(outcome.deleted)
        doc["failed"] = [{"object": o, "error": str(e)} for o, e in outcome.failed]
        doc["state_changed"] = outcome.state_changed
        err = outcome.error  # the one error of the deletes that failed: the text mode's `error:` line
        doc["error"] = None if err is None else {"message": err.message, "hint": err.hint}
        doc["exit_code"] = 0 if err is None else err.exit_code
    return doc


def write_prune_results(ctx: Context, outcome: PruneOutcome) -> Path | None:
    """The run file of a prune (``.specrunner/runs/``, as apply's): what it planned and did."""

    def build(_now: datetime) -> dict[str, Any]:
        doc = prune_document(outcome.plan, outcome)
        doc.update(
            kind="specrunner-prune-run",
            specrunner_version=__version__,
            manifest=str(ctx.manifest_path),
            state=str(ctx.state_path),
            started=outcome.started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            elapsed_seconds=round(outcome.elapsed, 3),
        )
        return doc

    return write_run_file(ctx, build)
