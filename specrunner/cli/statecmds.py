"""The commands on the state itself: ``show``, the ``state`` sub-commands (list, mv, show, rm, claim,
repair; ``cli.main`` adds ``cli.transfer``'s pull and push) and ``force-unlock``.

The state's work is in ``ops.statecmds``, ``ops.records`` and ``statefile``; these parse, call and print.
Only stdlib, typer and ``cli.options`` are imported at module level, the rest inside the commands,
so that start-up (completion, ``--help``) never loads it.

No ``from __future__ import annotations`` (as in ``cli.main``): typer reads the annotations of every
command at each start; as strings each one is compiled and evaluated again.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from specrunner.cli.errors import command_line
from specrunner.cli.options import (
    ExcludeOpt,
    Fmt,
    FormatOpt,
    KeyArg,
    LockTimeoutOpt,
    ManifestArg,
    NoColorOpt,
    StateOpt,
    TargetOpt,
    VarFileOpt,
    VarOpt,
    errors_follow,
)
from specrunner.core import shellwords
from specrunner.core.errors import SpecrunnerError

if TYPE_CHECKING:
    from specrunner.render.style import Style
    from specrunner.statefile.backend import StateBackend
    from specrunner.statefile.doc import StateDoc


def show(
    manifest: ManifestArg,
    state: StateOpt = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    fmt: FormatOpt = Fmt.text,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Nothing shortened to fit the terminal; every key of a plan."),
    ] = False,
    no_color: NoColorOpt = False,
) -> None:
    """Show what the state file records, as a table.

    Example: specrunner show specs/demo.yaml
    """
    from specrunner.cli.plancmd import terminal
    from specrunner.ops.records import state_rows
    from specrunner.render import text as render
    from specrunner.render.json import dumps, state_document

    errors_follow(fmt)
    style = terminal(no_color=no_color, verbose=verbose)
    if state is None and fmt == Fmt.text and _show_saved_plan(manifest, style):
        return
    if state is None and fmt == Fmt.json:
        _refuse_saved_plan_as_json(manifest)
    where, doc = _read_state(manifest, state)
    spath = where.path
    rows = state_rows(doc)
    if fmt == Fmt.json:
        typer.echo(dumps(state_document(spath, doc, rows)))
    else:
        if doc is None:
            typer.echo(f"No state file at {spath} yet: run `{command_line('apply', manifest)}`.")
        else:
            typer.echo(
                render.state_text(
                    rows, doc.lineage, doc.serial, doc.owner, style=style, manifest=str(manifest)
                )
            )


def outputs(
    manifest: ManifestArg,
    state: StateOpt = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    target: TargetOpt = None,
    exclude: ExcludeOpt = None,
    fmt: FormatOpt = Fmt.text,
) -> None:
    """List every object the recorded jobs produced: bucket, key, job and its state.

    Example: specrunner outputs specs/demo.yaml --target poster --format json
    """
    from specrunner.cli.plancmd import terminal
    from specrunner.core.plan import TargetError
    from specrunner.ops.records import output_rows
    from specrunner.render import text as render
    from specrunner.render.json import dumps, outputs_document

    errors_follow(fmt)
    where, doc = _read_state(manifest, state)
    try:
        rows = output_rows(doc, tuple(target or ()), tuple(exclude or ()))
    except TargetError as e:
        e.hint = f"`{command_line('state list', manifest)}` lists the recorded job keys"
        raise
    if fmt == Fmt.json:
        typer.echo(dumps(outputs_document(where.path, rows)))
    elif doc is None:
        typer.echo(f"No state file at {where.label} yet: run `{command_line('apply', manifest)}`.")
    else:
        typer.echo(render.outputs_text(rows, style=terminal()))


def _show_saved_plan(path: Path, style: "Style") -> bool:
    """``show PLANFILE``: what ``apply PLANFILE`` would do, and whether the plan is still current
    (False: ``path`` is no saved plan)."""
    from specrunner.cli.errors import command_args, record_command
    from specrunner.core.errors import PlanError
    from specrunner.ops.planrequest import compute_plan
    from specrunner.ops.savedplan import (
        check_saved_plan,
        is_plan_file,
        load_saved_plan,
        saved_context,
        saved_request,
    )
    from specrunner.render import text as render
    from specrunner.validate.variables import give

    if not is_plan_file(path):
        return False
    command_args.set(None)  # no manifest known yet: hints keep MANIFEST until the plan names it
    saved = load_saved_plan(path)
    ctx = saved_context(saved)
    # What this prints to paste names the plan's manifest, state and values (as ``apply PLANFILE``).
    record_command(str(ctx.manifest_path), ctx.state_arg)
    give(saved=saved.get("variables") or {})
    req = saved_request(saved, path, ctx)
    plan = compute_plan(ctx, req)
    shown = render.plan_text(
        plan, manifest=str(ctx.manifest_path), style=style, refresh=req.refresh, selection=req.selection()
    )
    head = f"Saved plan {path}, for {ctx.manifest_path} and its state {ctx.state_label}"
    try:
        check_saved_plan(saved, ctx, plan)
    except PlanError as e:
        # Stale: what it recorded is no longer what would happen; say so first, then show what a new
        # plan would do now (and the command that makes one), not the old plan under its name.
        from specrunner.render.style import paragraph

        say = f"{head}: no longer current: {e}; `specrunner apply {shellwords.path(path)}` would refuse it."
        typer.echo(paragraph(say + (f" To replace it: {e.hint}." if e.hint else ""), style.width))
        typer.echo("\nWhat a new plan would do now:")
        typer.echo(shown)
        return True
    typer.echo(f"{head}:")
    typer.echo(shown)
    typer.echo(f"\nThe plan is current: `specrunner apply {shellwords.path(path)}` does exactly this.")
    return True


def _refuse_saved_plan_as_json(path: Path) -> None:
    """``show PLANFILE --format json``: the plan file is that JSON already; say so (one error)."""
    from specrunner.ops.savedplan import is_plan_file

    if is_plan_file(path):
        raise SpecrunnerError(
            f"{path} is a saved plan: `show --format json` prints a state, and the plan file is "
            "itself the plan's JSON document (schemas/plan.v1.json)",
            hint=f"`specrunner show {shellwords.path(path)}` says whether `apply {shellwords.path(path)}` "
            "would still take it",
        )


def _is_state_file(path: Path) -> bool:
    """A lock file (JSON with a version and a lineage), not a manifest nor a saved plan."""
    import json

    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(doc, dict) and "lineage" in doc and "version" in doc and "kind" not in doc


def _read_state(manifest: Path, state: Path | None) -> "tuple[StateBackend, StateDoc | None]":
    """Where the state is and what it holds (None: no state yet), for the commands that only read it.

    They still name a manifest: a wrong one is an error, not "no state"."""
    from specrunner.statefile.backend import locate

    if state is None and _is_state_file(manifest):
        state = manifest  # a lock file given as it is (a pulled copy, a CI artifact): read it
    if state is None and not manifest.is_file():
        what = "is a folder, not a manifest" if manifest.is_dir() else "no such file"
        raise SpecrunnerError(
            f"{manifest}: {what}",
            hint="give the manifest the state file belongs to (or the state with --state PATH)",
        )
    where = locate(manifest, state)
    doc = where.read()
    if doc is None and state is None:
        _check_is_manifest(manifest)
    return where, doc


def _check_is_manifest(path: Path) -> None:
    """With no state to show, a file that is no manifest (nor a saved plan) is an error, not "no
    state yet". Only then is the file read: a manifest with a state is never parsed here."""
    from specrunner.statefile.backend import manifest_block

    data = manifest_block(path, parse=True)
    if "version" not in data or not isinstance(data.get("rules"), list):
        raise SpecrunnerError(
            f"{path}: not a specrunner manifest (no `version:` and `rules:`), nor a saved plan, nor a state",
            hint="give the manifest the state belongs to (`specrunner validate FILE` checks one), a plan "
            "saved by `specrunner plan --out`, or the state with --state PATH",
        )


def state_list(
    manifest: ManifestArg,
    state: StateOpt = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
) -> None:
    """List the job keys in the state, one per line, with their state.

    Example: specrunner state list specs/demo.yaml
    """
    from specrunner.ops.records import state_rows

    where, doc = _read_state(manifest, state)
    if doc is None:
        typer.echo(f"No state file at {where} yet: run `{command_line('apply', manifest)}`.", err=True)
    for row in state_rows(doc):
        typer.echo(f"{row['key']}\t{row['state'] or '-'}\t{row['job_id'] or '-'}")


def state_mv(
    manifest: ManifestArg,
    old: Annotated[
        str,
        typer.Argument(
            help="A job key, rule id or input id in the state.", show_default=False, metavar="OLD"
        ),
    ],
    new: Annotated[
        str,
        typer.Argument(help="Its new name, as the manifest now has it.", show_default=False, metavar="NEW"),
    ],
    state: StateOpt = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
) -> None:
    """Rename a job key, rule or input in the state without resubmitting (same request only).

    Example: specrunner state mv specs/demo.yaml poster cover
    """
    from specrunner.ops.context import load_context
    from specrunner.ops.statecmds import state_move

    ctx = load_context(manifest, state)
    moves = state_move(ctx, old, new, lock_timeout=lock_timeout)
    for src, dst in moves:
        typer.echo(f"Moved {src} -> {dst}")
    typer.echo(
        f"Moved {len(moves)} record{'s' if len(moves) != 1 else ''}; nothing was submitted. "
        f"State written to {ctx.state_path}."
    )


def state_show(
    manifest: ManifestArg,
    key: KeyArg,
    state: StateOpt = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    fmt: FormatOpt = Fmt.text,
) -> None:
    """Show one record of the state in full: job id, outcome, whole message, outputs, request.

    Example: specrunner state show specs/demo.yaml videos/intro.mp4::poster
    """
    from specrunner.ops.statecmds import find_record, record_text
    from specrunner.render.json import dumps, record_document

    errors_follow(fmt)
    _, doc = _read_state(manifest, state)  # local or in OSS, as `state list` reads it
    rec = find_record(doc, key)  # its hint's MANIFEST: the manifest and --state given (cli.errors)
    if fmt == Fmt.json:
        typer.echo(dumps(record_document(key, rec)))
    else:
        typer.echo(record_text(key, rec))


def state_rm(
    manifest: ManifestArg,
    keys: Annotated[
        list[str],
        typer.Argument(
            help="Job keys to drop from the state (nothing is deleted in MTS or OSS).",
            show_default=False,
            metavar="KEY...",
        ),
    ],
    state: StateOpt = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
) -> None:
    """Remove records from the state; the next plan creates those jobs again.

    Example: specrunner state rm specs/demo.yaml videos/intro.mp4::poster
    """
    from specrunner.ops.records import state_remove
    from specrunner.statefile.backend import locate

    where = locate(manifest, state)
    arg = None if state is None else (where.label if where.shared else str(state))
    removed = state_remove(where, keys, lock_timeout=lock_timeout, manifest=manifest, state_arg=arg)
    typer.echo(f"Removed {len(removed)} record(s) from the state.")


def state_claim(
    manifest: ManifestArg,
    state: StateOpt = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
) -> None:
    """Record MANIFEST as the owner of the state, after moving or renaming it on purpose.

    A state in OSS or given with --state refuses every other manifest than the one it records (its
    `name:`, else its path in the git repository): plan, apply, refresh and retry fail naming both.
    This takes the state's lock, shows the previous owner and records MANIFEST; nothing else changes.

    Example: specrunner state claim specs/site.yaml
    """
    from specrunner.ops.context import load_context
    from specrunner.ops.statecmds import state_claim as claim

    ctx = load_context(manifest, state, expand_jobs=False)
    previous, owner, written = claim(ctx, lock_timeout=lock_timeout)
    where = ctx.state_label
    if previous == owner:
        typer.echo(f"{where} belongs to {owner!r} ({manifest}) already: nothing changed.")
        return
    before = repr(previous) if previous is not None else "none recorded"
    typer.echo(
        f"Claimed {where} for {owner!r} ({manifest}); previous owner: {before}. "
        "Nothing else changed." + (f" State written to {where}." if written else "")
    )


def state_repair(
    manifest: ManifestArg,
    state: StateOpt = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
) -> None:
    """Recover a state that specrunner refuses as damaged, keeping every job id that can be read.

    The way out that the errors name, before anything that drops data: a damaged journal (its
    readable records are kept, the unreadable ones passed over and counted), a journal in OSS restored
    as a Normal object by a copy tool (read as it is), a head or lock objects deleted or edited by hand
    (generations continue above every journal found). It takes the state's lock and writes the
    recovered state; nothing is submitted. The next plan shows what is left to do.

    Example: specrunner state repair specs/site.yaml
    """
    from specrunner.statefile.backend import locate

    where = locate(manifest, state)
    got = where.repair(lock_timeout, manifest=manifest)
    label = where.label
    skipped = int(got.get("skipped") or 0)
    extra = (
        f"; {skipped} unreadable record(s) passed over (their jobs are looked up by tag where an intent "
        "survived)"
        if skipped
        else ""
    )
    copy = f"; the damaged journal is kept as {got['damaged_copy']}" if got.get("damaged_copy") else ""
    typer.echo(
        f"Repaired {label}: {got['jobs']} job(s) in the state, {got['job_ids']} with a job id{extra}{copy}. "
        f"Next: {command_line('plan', manifest)}"
    )


def force_unlock(
    manifest: ManifestArg,
    lock_id: Annotated[
        str, typer.Argument(help="The lock id named in the error.", show_default=False, metavar="LOCK_ID")
    ],
    state: StateOpt = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
) -> None:
    """Release the lock LOCK_ID (the id the "locked by" error names; a wrong id is refused).

    State in OSS: safe against a live holder. It revokes the lock (the holder stops submitting at
    once and says so), then waits until the holder can no longer submit: until it says it stopped, or
    for one full lease on this machine's clock when it does not answer (frozen or dead), printing what
    it waits for. Then the next run takes the lock and finds every job the holder submitted.

    Local state: the lock is an OS lock that dies with its process; this removes the lock info of a
    holder that is gone and refuses a live one.

    Example: specrunner force-unlock specs/demo.yaml 1f0c2a9e-...
    """
    from specrunner.statefile.backend import locate
    from specrunner.statefile.locking import describe as describe_lock

    info = locate(manifest, state).force_unlock(lock_id)
    typer.echo(f"Unlocked: removed the lock of {describe_lock(info)}.")
