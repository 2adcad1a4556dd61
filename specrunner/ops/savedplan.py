"""Saved plans read back (``plan --out FILE``, then ``apply FILE``): recognised, checked against the
plan schema, and refused when stale.

The document itself is built and written by ``render.json`` (``plan_document``, ``save_plan``); this
module reads it. Invariants: a plan file's manifest and state paths are stored relative to the plan
file and come back usable from the current directory; a saved plan is applied only if the manifest
and the state are those it was made from and this specrunner would plan exactly the same changes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specrunner.core.errors import PlanError
from specrunner.validate.schema import load_schema

if TYPE_CHECKING:  # types only: ``render.json`` imports this module, and ``validate`` loads that one
    from specrunner.core.plan import Plan
    from specrunner.ops.context import Context

PLAN_FORMAT = "1.0"


def file_digest(path: Path) -> str:
    """The digest a saved plan records of its manifest (``sha256:<hex>`` of the file's bytes)."""
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def is_plan_file(path: Path) -> bool:
    """A saved plan is JSON with kind specrunner-plan; manifests are YAML."""
    if path.suffix.lower() in (".yaml", ".yml") or not path.is_file():
        return False
    try:
        with open(path, "rb") as f:
            if f.read(64).lstrip()[:1] != b"{":
                return False
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("kind") == "specrunner-plan"


def load_saved_plan(path: Path) -> dict[str, Any]:
    """Read and check a plan file; its paths come back usable from the current directory."""
    # Imported here: jsonschema is loaded only when a saved plan is applied.
    import jsonschema

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PlanError(f"{path}: cannot read the saved plan: {e}") from None
    if not isinstance(doc, dict) or doc.get("kind") != "specrunner-plan":
        raise PlanError(f"{path}: not a specrunner plan file")
    if doc.get("format_version") != PLAN_FORMAT:
        raise PlanError(
            f"{path}: plan format {doc.get('format_version')!r} is not supported "
            f"(this specrunner writes {PLAN_FORMAT})"
        )
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(load_schema("plan.v1.json")).iter_errors(doc)
    )
    if error is not None or not isinstance(doc.get("selection"), dict):
        where = "/".join(str(p) for p in error.absolute_path) if error is not None else "selection"
        raise PlanError(
            f"{path}: the saved plan is damaged at {where or 'the top'}: "
            f"{error.message if error is not None else 'missing'}",
            hint="make a new one with `specrunner plan MANIFEST --out plan.json` (MANIFEST: the manifest it "
            "was made from)",
        )
    if doc.get("paths_relative_to_plan_file"):
        base = path.resolve().parent
        for part in ("manifest", "state"):
            if not str(doc[part]["path"]).startswith("oss://"):
                doc[part]["path"] = os.path.relpath(base / doc[part]["path"])
    return doc


def saved_context(doc: dict[str, Any], state: Path | str | None = None) -> Context:
    """The manifest and state a saved plan was made for, read with the variables' values it records
    (--var / --var-file given too: read with those, and ``check_saved_plan`` refuses other values)."""
    from specrunner.ops.context import load_context
    from specrunner.validate.variables import GIVEN, using_saved

    if GIVEN.get().explicit:
        ctx = load_context(doc["manifest"]["path"], state or doc["state"]["path"])
        check_variables(doc, ctx)  # before anything is locked
        return ctx
    with using_saved(doc.get("variables") or {}):
        return load_context(doc["manifest"]["path"], state or doc["state"]["path"])


def check_saved_plan(doc: dict[str, Any], ctx: Context, plan: Plan) -> None:
    """Refuse a saved plan if the manifest, the variables' values or the state changed since it was
    made."""
    if file_digest(ctx.manifest_path) != doc["manifest"]["digest"]:
        raise PlanError(
            "the saved plan is stale: the manifest changed since it was made",
            hint=f"make a new plan, `{replan(ctx, doc.get('variables'))}`, and review it",
        )
    check_variables(doc, ctx)
    if ctx.state_digest() != doc["state"]["digest"]:
        raise PlanError(
            "the saved plan is stale: the state changed since it was made (another apply ran?)",
            hint=f"make a new plan, `{replan(ctx, doc.get('variables'))}`, and review it",
        )
    saved = {(c["key"], c["action"], c.get("fingerprint")) for c in doc["changes"]}
    now = {(c.key, c.shown, c.job.fingerprint if c.job else None) for c in plan.changes}
    if saved != now:
        was = {k: a for k, a, _ in saved}
        is_ = {k: a for k, a, _ in now}
        moved = sorted(k for k in was.keys() | is_.keys() if was.get(k) != is_.get(k))
        if moved:  # the same manifest and state, another decision: the buckets (the refresh) differ
            k = moved[0]
            more = f" ({len(moved) - 1} other job(s) too)" if len(moved) > 1 else ""
            raise PlanError(
                f"the saved plan is stale: {k} was planned `{was.get(k, 'nothing')}` and would be "
                f"`{is_.get(k, 'nothing')}` now{more}; the buckets' outputs or inputs changed since "
                "it was made, or the refresh was turned on or off (--refresh)",
                hint=f"make a new plan, `specrunner plan {ctx.manifest_path} --out plan.json`, and review it",
            )
        raise PlanError(
            "the saved plan does not match what this specrunner would do now",
            hint=f"make a new plan with this version: `{replan(ctx, doc.get('variables'))}`",
        )


def check_variables(doc: dict[str, Any], ctx: Context) -> None:
    """Refuse a saved plan made with other variable values than ``ctx``'s manifest was read with."""
    given, used = doc.get("variables") or {}, dict(ctx.manifest.variables)
    if given != used:
        differ = sorted(n for n in given.keys() | used.keys() if given.get(n) != used.get(n))
        shown = ", ".join(f"{n}={given.get(n)!r} (now {used.get(n)!r})" for n in differ)
        raise PlanError(
            f"the saved plan was made with other variable values: {shown}",
            hint="apply it without --var / --var-file (it applies with the values it records), or make "
            f"a new plan with these: `{replan(ctx, used)}`",
        )


def replan(ctx: Context, values: dict[str, Any] | None) -> str:
    """The command that makes a new plan of ``ctx``'s manifest with the variables' ``values`` (a saved
    plan's, or the values now given), ready to paste."""
    import shlex

    from specrunner.validate.variables import as_text

    given = [f"--var {shlex.quote(f'{n}={as_text(v)}')}" for n, v in sorted((values or {}).items())]
    return " ".join(["specrunner plan", shlex.quote(str(ctx.manifest_path)), *given, "--out plan.json"])
