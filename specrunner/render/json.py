"""Every JSON document the CLI prints or writes, built here, and the one writer that encodes them.

One builder per document kind: a manifest's validation (``validate --format json``, and an invalid
manifest's error under ``--format json``), any other error under ``--format json``, the plan (``plan
--format json``, and the saved plan file), ``apply``'s result, ``refresh``'s, the state (``show``),
one record (``state show KEY``), and the run-results file. :func:`dumps` encodes them all: sorted
keys, UTF-8 kept as is, two-space indent.

Invariant: the bytes are those of earlier releases, which scripts and tests pin. Documents that were
first written otherwise keep their encoding, named where they are encoded: validation documents keep
their key order and escape non-ASCII, the saved plan escapes non-ASCII, the run-results file is one
compact line that escapes non-ASCII (json's C encoder: ``indent=`` would switch to the pure-Python one,
~10x slower, seconds for 100,000 results).

Module-level imports stay light (``validate`` imports this module in pre-commit hooks): the
use-case types are for annotations only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specrunner import __version__
from specrunner.ops.savedplan import PLAN_FORMAT, file_digest

if TYPE_CHECKING:
    from specrunner.core.diagnostics import Diagnostic
    from specrunner.core.plan import Plan
    from specrunner.core.record import LockEntry
    from specrunner.ops.context import Context
    from specrunner.ops.execute import ApplyOutcome
    from specrunner.ops.planrequest import PlanRequest
    from specrunner.statefile.doc import StateDoc

FORMAT_VERSION = "1.0"  # of every document below


def dumps(doc: Any, *, indent: int | None = 2, keep_order: bool = False, ascii_only: bool = False) -> str:
    """The one JSON encoding: sorted keys (``keep_order``: as built), UTF-8 kept (``ascii_only``:
    escaped), ``indent`` spaces (None: one compact line)."""
    separators = (",", ":") if indent is None else None
    return json.dumps(
        doc, indent=indent, sort_keys=not keep_order, ensure_ascii=ascii_only, separators=separators
    )


# ------------------------------------------------------------------------------------ validation


def validate_document(
    diagnostics: Sequence[Diagnostic], *, valid: bool, file: str | None = None
) -> dict[str, Any]:
    """One manifest's validation (with its ``file`` when several are checked); also the JSON error of
    an invalid manifest (``cli.errors``)."""
    doc: dict[str, Any] = {"format_version": FORMAT_VERSION}
    if file is not None:
        doc["file"] = file
    doc["valid"] = valid
    doc["diagnostics"] = [d.to_json() for d in diagnostics]
    return doc


def validate_json(doc: dict[str, Any] | list[dict[str, Any]]) -> str:
    """A validation document, or the list of several: in the order built, non-ASCII escaped."""
    return dumps(doc, keep_order=True, ascii_only=True)


# ------------------------------------------------------------------------------------ errors


def error_document(
    message: str,
    exit_code: int,
    *,
    hint: str | None = None,
    code: str | None = None,
    request_id: str | None = None,
    traceback_file: str | None = None,
) -> dict[str, Any]:
    """The one JSON error of a command asked for JSON (``schemas/error.v1.json``): what the text
    mode prints as ``error:`` and ``hint:``, the exit code, and the service's ``code`` /
    ``request_id`` when a backend answered (a bug: the file holding its traceback). Printed alone
    on stdout; an invalid manifest is the validation document instead (``validate_document``)."""
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "kind": "specrunner-error",
        "exit_code": exit_code,
        "message": message,
        "hint": hint,
    }
    extra = {"code": code, "request_id": request_id, "traceback_file": traceback_file}
    doc.update({k: v for k, v in extra.items() if v})
    return doc


# ------------------------------------------------------------------------------------ plan


def plan_document(ctx: Context, plan: Plan, req: PlanRequest, *, include_noop: bool = True) -> dict[str, Any]:
    """The versioned plan JSON (also the saved plan file format, read back by ``ops.savedplan``)."""
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
        if c.moved_from:
            entry["moved_from"] = c.moved_from
        changes.append(entry)
    doc = {
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
            "replace": list(req.replace),
            "refresh": req.refresh,
        },
        "refresh": ctx.refreshed.summary() if ctx.refreshed is not None else None,
        "discovery": [
            {"index": d.index, "bucket": d.bucket, "prefix": d.prefix, "match": d.match, "found": n}
            for d, n in ctx.discovered
        ],
        "summary": plan.counts(),
        "has_changes": plan.has_changes,
        "changes": changes,
    }
    if ctx.manifest.variables:  # the values used; `apply PLANFILE` applies with exactly these
        doc["variables"] = dict(ctx.manifest.variables)
    return doc


def with_groups(doc: dict[str, Any], plan: Plan, left_out: int) -> dict[str, Any]:
    """``plan --format json``: the plan document plus what the text shows at scale: ``groups`` (the
    changes of a rule that say the same thing, every key listed) and ``left_out`` (the changes
    ``--target`` / ``--exclude`` leave out). Not part of a saved plan file."""
    from specrunner.render.groups import plan_groups

    return {**doc, "groups": [g.to_json() for g in plan_groups(plan)], "left_out": left_out}


def save_plan(doc: dict[str, Any], out: Path) -> None:
    """Write a plan file. Its manifest and state paths are stored relative to the plan file, so
    the plan can be applied from another working directory (or another checkout of the repo);
    ``ops.savedplan.load_saved_plan`` makes them usable again. Non-ASCII is escaped, as ever."""
    # Imported here: validation, which imports this module, never loads the state package.
    from specrunner.statefile.files import atomic_write

    saved = json.loads(json.dumps(doc))  # a deep copy, tuples as lists
    base = out.resolve().parent
    for part in ("manifest", "state"):
        if not str(doc[part]["path"]).startswith("oss://"):
            saved[part]["path"] = os.path.relpath(Path(doc[part]["path"]).resolve(), base)
    saved["paths_relative_to_plan_file"] = True
    atomic_write(out, (dumps(saved, ascii_only=True) + "\n").encode())


# ------------------------------------------------------------------------------------ runs


def _recovered(outcome: ApplyOutcome) -> dict[str, int]:
    return {
        "adopted": outcome.summary.recovered_adopted,
        "resubmitted": outcome.summary.recovered_resubmitted,
    }


def apply_document(outcome: ApplyOutcome) -> dict[str, Any]:
    """What ``apply`` (or ``retry``) did, for ``--format json``."""
    return {
        "format_version": FORMAT_VERSION,
        "kind": "specrunner-apply",
        "counts": outcome.summary.counts(),
        "exit_code": outcome.exit_code(),
        "state_changed": outcome.state_changed,
        "run_results": str(outcome.run_file) if outcome.run_file else None,
        "recovered": _recovered(outcome),
        "refresh": outcome.extra.get("refresh"),  # what the plan's refresh verified, and when
        "results": outcome.summary.acted_on(),
    }


def refresh_document(outcome: ApplyOutcome) -> dict[str, Any]:
    """What ``refresh`` did, for ``--format json``."""
    return {
        "format_version": FORMAT_VERSION,
        "kind": "specrunner-refresh",
        "counts": outcome.summary.counts(),
        "refresh": outcome.extra.get("refresh"),
        "state_changed": outcome.state_changed,
    }


def run_results_document(ctx: Context, outcome: ApplyOutcome, started: datetime) -> dict[str, Any]:
    """The run-results file's document (dbt-style ``run_results``)."""
    return {
        "format_version": FORMAT_VERSION,
        "kind": "specrunner-run",
        "specrunner_version": __version__,
        "manifest": str(ctx.manifest_path),
        "state": str(ctx.state_path),
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "elapsed_seconds": round(outcome.summary.elapsed, 3),
        "counts": outcome.summary.counts(),
        "exit_code": outcome.exit_code(),
        "recovered": _recovered(outcome),
        "refresh": outcome.extra.get("refresh"),  # what the plan's refresh verified, and when
        "results": outcome.summary.acted_on(),
    }


def write_run_results(ctx: Context, outcome: ApplyOutcome) -> Path | None:
    """dbt-style run_results: ``<manifest dir>/.specrunner/runs/<time>-<id>.json`` (git-ignored).
    None if it could not be written (a run's outcome never depends on it)."""
    return write_run_file(ctx, lambda now: run_results_document(ctx, outcome, now))


def write_run_file(ctx: Context, build: Callable[[datetime], dict[str, Any]]) -> Path | None:
    """The document ``build(now)`` as ``<manifest dir>/.specrunner/runs/<time>-<id>.json`` (one line;
    the folder is git-ignored); None if it could not be written."""
    runs = ctx.manifest_path.resolve().parent / ".specrunner" / "runs"
    try:
        runs.mkdir(parents=True, exist_ok=True)
        ignore = runs.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# written by specrunner: run results, never committed\n*\n")
        now = datetime.now(UTC)
        doc = build(now)
        path = runs / f"{now.strftime('%Y%m%dT%H%M%SZ')}-{os.urandom(4).hex()}.json"
        # One line, sorted: json's C encoder (indent= switches to the pure-Python one, ~10x slower,
        # seconds for 100,000 results). A machine-readable, git-ignored file: jq pretty-prints it.
        path.write_text(dumps(doc, indent=None, ascii_only=True) + "\n")
        return path
    except OSError:
        return None


# ------------------------------------------------------------------------------------ state


def state_document(state_path: Path, doc: StateDoc | None, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The state (``show --format json``): its rows (``ops.records.state_rows``), lineage and owner."""
    return {
        "format_version": FORMAT_VERSION,
        "kind": "specrunner-state",
        "state": str(state_path),
        "lineage": doc.lineage if doc else None,
        "serial": doc.serial if doc else None,
        "manifest": doc.owner if doc else None,
        "jobs": rows,
    }


def outputs_document(state_path: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Every produced object (``outputs --format json``; rows: ``ops.records.output_rows``)."""
    return {
        "format_version": FORMAT_VERSION,
        "kind": "specrunner-outputs",
        "state": str(state_path),
        "outputs": rows,
    }


def record_document(key: str, rec: LockEntry) -> dict[str, Any]:
    """One record in full (``state show KEY --format json``)."""
    return {"key": key, "record": rec.to_record()}
