"""The command line. Thin: parse arguments, call ``app``, render, exit with a documented code.

Exit codes: 0 success / no changes; 1 error (bad input, refused, fatal); 2 ``plan
--detailed-exitcode`` with changes; 3 apply finished with failed jobs; 4 apply left jobs running or
unresolved (``--no-wait``, ``--timeout``); 130 interrupted (Ctrl-C / SIGTERM), after persisting.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from . import __version__
from .errors import ManifestError, SpecrunnerError

if TYPE_CHECKING:
    from . import app as core
else:
    class _Lazy:
        """``specrunner.app``, imported on first use: `--version`, `--help` and completion never load it."""

        def __getattr__(self, name: str) -> Any:
            import importlib

            return getattr(importlib.import_module("specrunner.app"), name)

    core = _Lazy()

cli = typer.Typer(
    name="specrunner",
    help="Declarative batch spec runner for Alibaba Cloud MTS snapshot jobs: validate, plan, apply, lock file.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,
)


class Fmt(str, Enum):
    text = "text"
    json = "json"


class RunFmt(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


def _err(message: str, hint: str | None = None, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)
    raise typer.Exit(code)


def _handle(e: SpecrunnerError, fmt: Fmt = Fmt.text) -> NoReturn:
    if isinstance(e, ManifestError) and e.diagnostics:
        if fmt == Fmt.json:
            typer.echo(json.dumps({"format_version": "1.0", "valid": False,
                                   "diagnostics": [d.to_json() for d in e.diagnostics]}, indent=2))
        else:
            for d in e.diagnostics:
                typer.echo(d.render(), err=True)
            n = sum(1 for d in e.diagnostics if d.severity == "error")
            typer.echo(f"error: {n} problem{'s' if n != 1 else ''} found", err=True)
        raise typer.Exit(1)
    _err(e.message, e.hint, e.exit_code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"specrunner {__version__}")
        raise typer.Exit(0)


@cli.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """specrunner: MTS snapshot jobs as code.

    Example: specrunner validate specs/demo.yaml && specrunner plan specs/demo.yaml && specrunner apply specs/demo.yaml
    """


ManifestArg = Annotated[Path, typer.Argument(help="The manifest (YAML).", show_default=False)]
StateOpt = Annotated[Path | None, typer.Option("--state", help="State file. Default: <manifest dir>/<stem>.lock.json.")]
FormatOpt = Annotated[Fmt, typer.Option("--format", help="Output format.")]
RunFormatOpt = Annotated[RunFmt, typer.Option("--format", help="Output format; markdown is a pull-request comment.")]
TargetOpt = Annotated[list[str] | None, typer.Option("--target", help="Only jobs matching this glob (job key, input id or rule id). Repeatable.")]
ExcludeOpt = Annotated[list[str] | None, typer.Option("--exclude", help="Skip jobs matching this glob. Repeatable.")]
ParallelismOpt = Annotated[int, typer.Option("--parallelism", "-p", min=1, max=256, help="Concurrent submissions.")]
NoWaitOpt = Annotated[bool, typer.Option("--no-wait", help="Do not wait for async jobs; a later apply/refresh resumes them.")]
TimeoutOpt = Annotated[float | None, typer.Option("--timeout", help="Stop waiting for async jobs after this many seconds.")]
LockTimeoutOpt = Annotated[float, typer.Option("--lock-timeout", help="Wait this many seconds for the state lock.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary and errors.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", help="One line per job event.")]


@cli.command()
def validate(
    manifest: ManifestArg,
    fmt: FormatOpt = Fmt.text,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
) -> None:
    """Check a manifest against the schema and the semantic rules; report every problem at once.

    Example: specrunner validate specs/demo.yaml --format json
    """
    from .manifest import check_manifest

    model, diags = check_manifest(manifest)
    errors = [d for d in diags if d.severity == "error" or strict]
    if fmt == Fmt.json:
        typer.echo(json.dumps({"format_version": "1.0", "valid": not errors,
                               "diagnostics": [d.to_json() for d in diags]}, indent=2))
    else:
        for d in diags:
            typer.echo(d.render(), err=bool(errors))
        if errors:
            typer.echo(f"error: {len(errors)} problem{'s' if len(errors) != 1 else ''} found", err=True)
        else:
            assert model is not None
            jobs = sum(1 for rule in model.rules for inp in model.inputs if rule.applies_to(inp.id))
            typer.echo(f"{core.display(manifest)}: valid ({len(model.inputs)} inputs, {len(model.rules)} rules, "
                       f"{jobs} jobs)")
    raise typer.Exit(1 if errors else 0)


@cli.command()
def plan(
    manifest: ManifestArg,
    state: StateOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Save the plan to FILE for `apply FILE`.")] = None,
    detailed_exitcode: Annotated[bool, typer.Option("--detailed-exitcode", help="Exit 0: no changes, 1: error, 2: changes.")] = False,
    target: TargetOpt = None,
    exclude: ExcludeOpt = None,
    fmt: RunFormatOpt = RunFmt.text,
    show_unchanged: Annotated[bool, typer.Option("--show-unchanged", "-v", help="List unchanged jobs too.")] = False,
) -> None:
    """Show what apply would do, job by job: create, replace, retry, resume, forget; sync or async; why.

    Example: specrunner plan specs/demo.yaml --out demo.plan.json --detailed-exitcode
    """
    from . import render

    try:
        ctx = core.load_context(manifest, state)
        req = core.PlanRequest(tuple(target or ()), tuple(exclude or ()))
        p = core.compute_plan(ctx, req)
        doc = core.plan_document(ctx, p, req)
        if out:
            core.save_plan(doc, out)
    except SpecrunnerError as e:
        _handle(e, Fmt.json if fmt == RunFmt.json else Fmt.text)
    if fmt == RunFmt.json:
        typer.echo(render.to_json(doc))
    elif fmt == RunFmt.markdown:
        from .markdown import plan_markdown

        typer.echo(plan_markdown(p, str(manifest), show_unchanged=show_unchanged,
                                 json_hint=f"`specrunner plan {manifest} --format json`"), nl=False)
    else:
        for line in _discovery_lines(ctx):
            typer.echo(line)
        typer.echo(render.plan_text(p, show_unchanged=show_unchanged, recovery=_recovery_note(p)))
        if out:
            typer.echo(f"\nSaved the plan to {out}. Apply exactly this plan with: specrunner apply {out}")
    raise typer.Exit(2 if detailed_exitcode and p.has_changes else 0)


def _discovery_lines(ctx: Any) -> list[str]:
    return [f"Discovered {n} input{'s' if n != 1 else ''} in {d.bucket}/{d.prefix} matching {d.match} "
            f"(inputs[{d.index}])." for d, n in ctx.discovered]


def _recovery_note(p: Any) -> str | None:
    n = sum(1 for c in p.changes if c.prior and c.prior.get("intent") and not c.prior.get("job_id"))
    if not n:
        return None
    return (f"{n} interrupted submission{'s' if n != 1 else ''} found: each is looked up by its tag and "
            "adopted if it exists, resubmitted only if absent.")


@cli.command()
def apply(
    manifest: Annotated[Path, typer.Argument(help="The manifest (YAML), or a plan file saved by `plan --out`.", show_default=False)],
    state: StateOpt = None,
    parallelism: ParallelismOpt = 10,
    no_wait: NoWaitOpt = False,
    timeout: TimeoutOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
    target: TargetOpt = None,
    exclude: ExcludeOpt = None,
    fmt: RunFormatOpt = RunFmt.text,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Apply the manifest (or a saved plan): submit, poll, and record every job in the state file.

    Example: specrunner apply specs/demo.yaml --parallelism 20
    """
    _run_apply(manifest, state, parallelism, no_wait, timeout, lock_timeout, target, exclude, fmt, quiet,
               verbose, only_failed=False)


def _run_apply(manifest: Path, state: Path | None, parallelism: int, no_wait: bool, timeout: float | None,
               lock_timeout: float, target: list[str] | None, exclude: list[str] | None, fmt: RunFmt,
               quiet: bool, verbose: bool, *, only_failed: bool) -> NoReturn:
    from . import render
    from .progress import Progress

    saved = None
    try:
        if core.is_plan_file(manifest):
            saved = core.load_saved_plan(manifest)
            if target or exclude:
                _err("--target/--exclude cannot be combined with a saved plan; they were fixed at plan time")
            ctx = core.load_context(saved["manifest"]["path"], state or saved["state"]["path"])
            sel = saved["selection"]
            req = core.PlanRequest(tuple(sel["targets"]), tuple(sel["excludes"]), bool(sel["only_failed"]))
        else:
            ctx = core.load_context(manifest, state)
            req = core.PlanRequest(tuple(target or ()), tuple(exclude or ()), only_failed)
        progress = Progress(quiet=quiet or fmt != RunFmt.text, verbose=verbose)
        opts = core.ApplyOptions(parallelism=parallelism, wait=not no_wait, lock_timeout=lock_timeout,
                                 timeout=timeout)
        outcome = core.apply(ctx, req, opts, on_event=progress.event, saved_plan=saved,
                             executor_hook=_install_signal_handlers)
        progress.close()
    except SpecrunnerError as e:
        _handle(e, Fmt.json if fmt == RunFmt.json else Fmt.text)
    if fmt == RunFmt.markdown:
        from .markdown import apply_markdown

        hint = f"the run results file `{outcome.run_file}`" if outcome.run_file else "`--format json`"
        typer.echo(apply_markdown(outcome.plan, outcome.summary, str(ctx.manifest_path), json_hint=hint), nl=False)
    elif fmt == RunFmt.json:
        doc = {"format_version": "1.0", "kind": "specrunner-apply", "counts": outcome.summary.counts(),
               "exit_code": outcome.exit_code(), "state_changed": outcome.state_changed,
               "run_results": str(outcome.run_file) if outcome.run_file else None,
               "recovered": {"adopted": outcome.summary.recovered_adopted,
                             "resubmitted": outcome.summary.recovered_resubmitted},
               "results": outcome.summary.acted_on()}
        typer.echo(render.to_json(doc))
    else:
        if outcome.stale_lock:
            typer.echo(f"note: cleaned up lock info left by a process that is gone "
                       f"({core.describe_lock(outcome.stale_lock)})", err=True)
        rec = outcome.summary.recovered_adopted + outcome.summary.recovered_resubmitted
        if rec:
            typer.echo(f"{rec} interrupted submission{'s' if rec != 1 else ''} found: "
                       f"{outcome.summary.recovered_adopted} adopted, "
                       f"{outcome.summary.recovered_resubmitted} resubmitted.")
        if not quiet:
            typer.echo(render.plan_summary_line(outcome.plan))
        typer.echo(render.run_text(outcome.summary))
        if outcome.state_changed:
            typer.echo(f"State written to {ctx.state_path}.")
        elif not quiet:
            typer.echo(f"State unchanged: {ctx.state_path}.")
    raise typer.Exit(outcome.exit_code())


def _install_signal_handlers(executor: Any) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, frame: Any) -> None:
        if executor.stop.is_set():
            return
        executor.stop.set()
        typer.echo(f"\nInterrupted ({signal.Signals(signum).name}): no new submissions; finishing in-flight "
                   "calls and saving the state...", err=True)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


@cli.command()
def show(
    manifest: ManifestArg,
    state: StateOpt = None,
    fmt: FormatOpt = Fmt.text,
) -> None:
    """Show what the state file records, as a table.

    Example: specrunner show specs/demo.yaml
    """
    from . import render
    from .state import default_state_path, read_state

    spath = state or default_state_path(manifest)
    try:
        doc = read_state(spath)
    except SpecrunnerError as e:
        _handle(e, fmt)
    rows = core.state_rows(doc)
    if fmt == Fmt.json:
        typer.echo(render.to_json({"format_version": "1.0", "kind": "specrunner-state", "state": str(spath),
                                   "lineage": doc.lineage if doc else None, "serial": doc.serial if doc else None,
                                   "jobs": rows}))
    else:
        if doc is None:
            typer.echo(f"No state file at {spath} yet: run `specrunner apply {manifest}`.")
        else:
            typer.echo(render.state_text(rows, doc.lineage, doc.serial))


@cli.command()
def schema() -> None:
    """Print the manifest JSON Schema (draft 2020-12).

    Example: specrunner schema > manifest.v1.json
    """
    from .schema import schema_text

    typer.echo(schema_text(), nl=False)


@cli.command()
def retry(
    manifest: ManifestArg,
    state: StateOpt = None,
    parallelism: ParallelismOpt = 10,
    no_wait: NoWaitOpt = False,
    timeout: TimeoutOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
    target: TargetOpt = None,
    exclude: ExcludeOpt = None,
    fmt: RunFormatOpt = RunFmt.text,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Rerun only the jobs whose last outcome is Fail (an apply restricted to failures).

    Example: specrunner retry specs/demo.yaml
    """
    _run_apply(manifest, state, parallelism, no_wait, timeout, lock_timeout, target, exclude, fmt, quiet,
               verbose, only_failed=True)


@cli.command()
def refresh(
    manifest: ManifestArg,
    state: StateOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Poll once; do not wait for running jobs to finish.")] = False,
    fmt: FormatOpt = Fmt.text,
) -> None:
    """Poll every job that is not final and record its outcome. Submits nothing.

    Example: specrunner refresh specs/demo.yaml --no-wait
    """
    from . import render

    try:
        ctx = core.load_context(manifest, state)
        outcome = core.refresh(ctx, core.ApplyOptions(wait=not no_wait, lock_timeout=lock_timeout))
    except SpecrunnerError as e:
        _handle(e, fmt)
    c = outcome.summary.counts()
    if fmt == Fmt.json:
        typer.echo(render.to_json({"format_version": "1.0", "kind": "specrunner-refresh", "counts": c,
                                   "state_changed": outcome.state_changed}))
    else:
        typer.echo(f"Refresh: {len(outcome.plan.changes)} job(s) not final; {c['succeeded']} succeeded, "
                   f"{c['failed']} failed, {c['pending']} still running or unresolved, {c['adopted']} adopted.")
        typer.echo(f"State {'written to' if outcome.state_changed else 'unchanged:'} {ctx.state_path}.")
    raise typer.Exit(3 if c["failed"] else 4 if c["pending"] else 0)


@cli.command("import")
def import_(
    manifest: ManifestArg,
    key: Annotated[str, typer.Argument(help="The job key, <input id>::<rule id>.", show_default=False)],
    job_id: Annotated[str, typer.Argument(help="The MTS job id to adopt.", show_default=False)],
    state: StateOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
) -> None:
    """Adopt an existing job into the state, after checking it exists and matches the rule.

    Example: specrunner import specs/demo.yaml videos/intro.mp4::poster 88c6ca184c0e47098a5b665e2a126797
    """
    try:
        ctx = core.load_context(manifest, state)
        rec = core.import_job(ctx, key, job_id, lock_timeout=lock_timeout)
    except SpecrunnerError as e:
        _handle(e)
    typer.echo(f"Imported {key} -> {job_id} ({rec['state']}).")


state_cli = typer.Typer(help="State surgery: list and remove records (each takes the lock and bumps the serial).",
                        no_args_is_help=True)
cli.add_typer(state_cli, name="state")


@state_cli.command("list")
def state_list(
    manifest: ManifestArg,
    state: StateOpt = None,
) -> None:
    """List the job keys in the state, one per line, with their state.

    Example: specrunner state list specs/demo.yaml
    """
    from .state import default_state_path, read_state

    try:
        doc = read_state(state or default_state_path(manifest))
    except SpecrunnerError as e:
        _handle(e)
    for row in core.state_rows(doc):
        typer.echo(f"{row['key']}\t{row['state'] or '-'}\t{row['job_id'] or '-'}")


@state_cli.command("rm")
def state_rm(
    manifest: ManifestArg,
    keys: Annotated[list[str], typer.Argument(help="Job keys to drop from the state (nothing is deleted in MTS or OSS).", show_default=False)],
    state: StateOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
) -> None:
    """Remove records from the state; the next plan creates those jobs again.

    Example: specrunner state rm specs/demo.yaml videos/intro.mp4::poster
    """
    from .state import default_state_path

    try:
        removed = core.state_remove(state or default_state_path(manifest), keys, lock_timeout=lock_timeout)
    except SpecrunnerError as e:
        _handle(e)
    typer.echo(f"Removed {len(removed)} record(s) from the state.")


@cli.command("force-unlock")
def force_unlock(
    manifest: ManifestArg,
    lock_id: Annotated[str, typer.Argument(help="The lock id named in the error.", show_default=False)],
    state: StateOpt = None,
) -> None:
    """Remove a lock left behind by a run that is gone (refuses a wrong id or a live holder).

    Example: specrunner force-unlock specs/demo.yaml 1f0c2a9e-...
    """
    from .locking import force_unlock as _force
    from .state import default_state_path

    try:
        info = _force(state or default_state_path(manifest), lock_id)
    except SpecrunnerError as e:
        _handle(e)
    typer.echo(f"Unlocked: removed the lock of {core.describe_lock(info)}.")


@cli.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter manifest.")] = Path("specrunner.yaml"),
    backend: Annotated[str, typer.Option("--backend", help="local or aliyun.")] = "local",
) -> None:
    """Write a commented starter manifest (never overwrites).

    Example: specrunner init specs/site.yaml --backend aliyun
    """
    from .starter import starter_manifest

    if backend not in ("local", "aliyun"):
        _err(f"unknown backend {backend!r}; use local or aliyun")
    if path.exists():
        _err(f"{path} already exists; choose another path or remove it first")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(starter_manifest(path, backend), encoding="utf-8")
    except OSError as e:
        _err(f"cannot write {path}: {e.strerror or e}")
    typer.echo(f"Wrote {path}. Next: specrunner validate {path} && specrunner plan {path}")


def _register_extensions() -> None:
    """Commands that live in their own packages (each module imports only stdlib + typer at load)."""
    import importlib

    for module, names in (("emulator.cli", ("emulator",)), ("report.cli", ("preview", "report"))):
        try:
            mod = importlib.import_module(f"specrunner.{module}")
        except ModuleNotFoundError as e:  # pragma: no cover - while a package is being built
            if not f"specrunner.{module}".startswith(e.name or "-"):
                raise
            continue
        for name in names:
            cli.command(name)(getattr(mod, name))


_register_extensions()


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:  # pragma: no cover - outside apply's own handler
        typer.echo("Interrupted.", err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
