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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specrunner.core import shellwords
from specrunner.core.errors import PlanError
from specrunner.validate.schema import load_schema

if TYPE_CHECKING:  # types only: ``render.json`` imports this module, and ``validate`` loads that one
    from specrunner.core.plan import Plan
    from specrunner.ops.context import Context
    from specrunner.ops.planrequest import PlanRequest

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
            hint=f"make a new one from the manifest it was made from: `{_damaged_replan(path, doc)}`",
        )
    stored = doc["manifest"]["path"]
    if doc.get("paths_relative_to_plan_file"):
        base = path.resolve().parent
        for part in ("manifest", "state"):
            if not str(doc[part]["path"]).startswith("oss://"):
                doc[part]["path"] = os.path.relpath(base / doc[part]["path"])
    manifest = doc["manifest"]["path"]
    if not manifest.startswith("oss://") and not Path(manifest).is_file():
        # Said here: as "file not found", its hint would write a starter manifest in its place.
        relative = doc.get("paths_relative_to_plan_file")
        raise PlanError(
            f"{path}: the manifest it was made from is not at {manifest}"
            + (f" (the plan names it {stored}, from the plan file's own folder)" if relative else ""),
            hint=(
                "move the plan file back to the folder it was saved in (or the manifest to "
                f"{manifest}), or make a new plan from the manifest with `plan --out`"
                if relative
                else "make a new plan from the manifest with `plan --out`"
            ),
        )
    return doc


def _damaged_replan(path: Path, doc: dict[str, Any]) -> str:
    """``specrunner plan`` of the manifest a damaged plan names, with its state and the values it
    records (those that can be read); of ``MANIFEST``, to fill in, when it names none that is there."""

    def named(part: str) -> str | None:
        entry = doc.get(part)
        where = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(where, str) or where.startswith("oss://"):
            return where if isinstance(where, str) else None
        return (
            os.path.relpath(path.resolve().parent / where)
            if doc.get("paths_relative_to_plan_file")
            else where
        )

    manifest, values = named("manifest"), doc.get("variables")
    if manifest is None or not Path(manifest).is_file():
        return "specrunner plan MANIFEST --out plan.json"
    return plan_command(manifest, named("state"), None, values if isinstance(values, dict) else None)


def saved_context(doc: dict[str, Any]) -> Context:
    """The manifest and state a saved plan was made for, read with the variables' values it records
    (--var / --var-file given too: read with those, and ``check_saved_plan`` refuses other values).
    Its ``state_arg`` is the plan's state unless that is the manifest's own (then None: a command
    printed for pasting needs no ``--state``)."""
    from specrunner.ops.context import load_context
    from specrunner.validate.variables import GIVEN, using_saved

    if GIVEN.get().explicit:
        ctx = load_context(doc["manifest"]["path"], doc["state"]["path"])
        _own_state(ctx)
        check_variables(doc, ctx)  # before anything is locked
        return ctx
    with using_saved(doc.get("variables") or {}):
        ctx = load_context(doc["manifest"]["path"], doc["state"]["path"])
    _own_state(ctx)
    return ctx


def _own_state(ctx: Context) -> None:
    """No ``state_arg`` when the context's state is the one its manifest picks by itself."""
    from specrunner.statefile.backend import locate

    own = locate(ctx.manifest_path, None, ctx.manifest)
    if _same_state(own.label, ctx):
        ctx.state_arg = None


def saved_request(
    doc: dict[str, Any],
    path: Path,
    ctx: Context,
    *,
    targets: Sequence[str] = (),
    excludes: Sequence[str] = (),
    replace: Sequence[str] = (),
    refresh: bool | None = None,
    state: str | None = None,
) -> PlanRequest:
    """The request a saved plan was made with; ``apply PLANFILE`` plans it again under the lock, to
    apply it only if nothing changed since (``check_saved_plan``). A saved plan fixed its planning
    options when it was made (Terraform's rule): the same ones given again change nothing; any other
    (``--target`` / ``--exclude`` / ``--replace`` / ``--refresh`` / ``--state``; ``refresh`` None: not
    given) is refused with one error naming it and the two ways on, before anything is locked."""
    from specrunner.ops.planrequest import PlanRequest

    req = _request(doc)
    given, saved = [], []
    for flag, now, then in (
        ("--target", targets, req.targets),
        ("--exclude", excludes, req.excludes),
        ("--replace", replace, req.replace),
    ):
        if now and sorted(now) != sorted(then):
            given.append(" ".join(f"{flag} {shellwords.quote(g)}" for g in now))
            saved.append(" ".join(f"{flag} {shellwords.quote(g)}" for g in then) or f"no {flag}")
    if refresh is not None and refresh != req.refresh:
        given.append("--refresh=false" if not refresh else "--refresh")
        saved.append("the refresh" if req.refresh else "--refresh=false")
    if state is not None and not _same_state(state, ctx):
        given.append(f"--state {shellwords.quote(state)}")
        saved.append(f"the state {ctx.state_label}")
    if not given:
        return req
    new = PlanRequest(
        tuple(targets) or req.targets,
        tuple(excludes) or req.excludes,
        req.only_failed,
        tuple(replace) or req.replace,
        req.refresh if refresh is None else refresh,
    )
    shown = shellwords.path(path)
    again = plan_command(ctx.manifest_path, state or ctx.state_arg, new, doc.get("variables"))
    raise PlanError(
        f"{' and '.join(given)} {'contradicts' if len(given) == 1 else 'contradict'} the saved plan "
        f"{path} (made with {' and '.join(saved)}): a saved plan is applied with the planning options "
        "it was made with",
        hint=f"apply it as it was made, `specrunner apply {shown}`; or make a new plan with "
        f"{'this option' if len(given) == 1 else 'these options'}, `{again}`, and review it",
    )


def _request(doc: dict[str, Any]) -> PlanRequest:
    """The plan request a saved plan records (its ``selection``)."""
    from specrunner.ops.planrequest import PlanRequest

    sel = doc["selection"]
    return PlanRequest(
        tuple(sel["targets"]),
        tuple(sel["excludes"]),
        bool(sel["only_failed"]),
        tuple(sel.get("replace", ())),
        bool(sel.get("refresh", True)),
    )


def _same_state(state: str, ctx: Context) -> bool:
    """Whether ``--state`` names the state a saved plan was made for."""
    if state.startswith("oss:/") and not state.startswith("oss://"):
        state = "oss://" + state[len("oss:/") :]  # a URL that went through Path
    if ctx.home.shared or state.startswith("oss://"):
        return state == ctx.state_label  # an oss:// URL: the same bucket and key
    return os.path.abspath(state) == os.path.abspath(ctx.state_label)


def check_saved_plan(doc: dict[str, Any], ctx: Context, plan: Plan) -> None:
    """Refuse a saved plan if the manifest, the variables' values or the state changed since it was
    made."""
    again = f"make a new plan, `{replan(ctx, doc)}`, and review it"
    if file_digest(ctx.manifest_path) != doc["manifest"]["digest"]:
        raise PlanError("the saved plan is stale: the manifest changed since it was made", hint=again)
    check_variables(doc, ctx)
    if ctx.state_digest() != doc["state"]["digest"]:
        raise PlanError(
            "the saved plan is stale: the state changed since it was made (another apply ran?)", hint=again
        )
    saved = {(c["key"], c["action"], c.get("fingerprint")) for c in doc["changes"]}
    now = {(c.key, c.shown, c.job.fingerprint if c.job else None) for c in plan.changes}
    if saved != now:
        was = {k: a for k, a, _ in saved}
        is_ = {k: a for k, a, _ in now}
        moved = sorted(k for k in was.keys() | is_.keys() if was.get(k) != is_.get(k))
        if moved and doc["selection"].get("refresh", True):
            # the same manifest, state and options, another decision: the buckets (the refresh) differ
            k = moved[0]
            more = f" ({len(moved) - 1} other job(s) too)" if len(moved) > 1 else ""
            raise PlanError(
                f"the saved plan is stale: {k} was planned `{was.get(k, 'nothing')}` and would be "
                f"`{is_.get(k, 'nothing')}` now{more}; the buckets' outputs or inputs changed since "
                "it was made",
                hint=again,
            )
        raise PlanError(
            "the saved plan does not match what this specrunner would do now",
            hint=f"make a new plan with this version: `{replan(ctx, doc)}`",
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
            f"a new plan with these: `{replan(ctx, doc, used)}`",
        )


def replan(ctx: Context, doc: dict[str, Any], values: dict[str, Any] | None = None) -> str:
    """The command that makes a saved plan again, ready to paste: its manifest, its state (unless the
    manifest's own), its planning options and the variables' values (``values``, else the plan's)."""
    return plan_command(
        ctx.manifest_path,
        ctx.state_arg,
        _request(doc),
        doc.get("variables") if values is None else values,
    )


def plan_command(
    manifest: Path | str, state: str | None, req: PlanRequest | None, values: dict[str, Any] | None
) -> str:
    """``specrunner plan MANIFEST [--state S] [--target G]... [--refresh=false] [--var N=V]... --out
    plan.json``, every word quoted to work when pasted."""
    from specrunner.validate.variables import printed_value

    words = [*(["--state", state] if state is not None else []), *(req.options() if req else [])]
    for name, value in sorted((values or {}).items()):
        words += ["--var", f"{name}={printed_value(value)}"]
    return " ".join(
        ["specrunner plan", shellwords.path(manifest), *map(shellwords.quote, words), "--out plan.json"]
    )
