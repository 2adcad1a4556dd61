"""The command line. Thin: parse arguments, call ``app``, render, exit with a documented code.

Exit codes (``errors.EXIT_*``, the README's table): 0 success / no changes; 1 error (bad input, usage
error, refused, fatal); 2 ``plan --detailed-exitcode`` with changes; 3 apply finished with failed jobs;
4 apply left jobs running or unresolved (``--no-wait``, ``--timeout``); 70 a bug; 130 interrupted
(Ctrl-C / SIGTERM), after persisting. Errors never pick a code here: they are raised, and
``exits.SpecrunnerGroup`` maps each to its code in one place.

No ``from __future__ import annotations`` here: typer reads the annotations of every command at each
start; as objects they are read as they are, as strings each one is compiled and evaluated again.
"""

import json
import os
import signal
import sys
import threading
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperArgument

from specrunner import __version__
from specrunner.cli.exits import SpecrunnerGroup
from specrunner.cli.errors import json_errors
from specrunner.core.durations import parse_seconds
from specrunner.core.errors import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PENDING,
    ManifestError,
    SpecrunnerError,
)

if TYPE_CHECKING:
    from specrunner.ops import app as core
else:

    class _Lazy:
        """``specrunner.ops.app``, imported on first use: `--version`, `--help` and completion never
        load it."""

        def __getattr__(self, name: str) -> Any:
            import importlib

            return getattr(importlib.import_module("specrunner.ops.app"), name)

    core = _Lazy()

cli = typer.Typer(
    name="specrunner",
    help="Declarative batch spec runner for Alibaba Cloud MTS snapshot jobs: "
    "validate, plan, apply, lock file.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,
    cls=SpecrunnerGroup,
)


class Fmt(StrEnum):
    text = "text"
    json = "json"


class RunFmt(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


def _err(message: str, hint: str | None = None) -> NoReturn:
    raise SpecrunnerError(message, hint=hint)


def _handle(e: SpecrunnerError, fmt: Fmt = Fmt.text) -> NoReturn:
    """Hand ``e`` to the one error handler (``exits``), in the output format the command was asked for."""
    if fmt == Fmt.json:
        json_errors.set(True)
    raise e


def _version(value: bool) -> None:
    if value:
        typer.echo(f"specrunner {__version__}")
        raise typer.Exit(0)


@cli.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """specrunner: MTS snapshot jobs as code.

    Example: specrunner validate specs/demo.yaml && specrunner plan specs/demo.yaml && \
specrunner apply specs/demo.yaml
    """


ManifestArg = Annotated[
    Path, typer.Argument(help="The manifest (YAML).", show_default=False, metavar="MANIFEST")
]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state",
        metavar="PATH",
        help="State file, or oss://BUCKET/KEY. "
        "Default: the manifest's state: block, else <manifest dir>/<stem>.lock.json.",
    ),
]
FormatOpt = Annotated[Fmt, typer.Option("--format", help="Output format.")]
RunFormatOpt = Annotated[
    RunFmt, typer.Option("--format", help="Output format; markdown is a pull-request comment.")
]
TargetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--target",
        metavar="GLOB",
        help="Only jobs matching this glob (job key, input id or rule id). Repeatable.",
    ),
]
ExcludeOpt = Annotated[
    list[str] | None,
    typer.Option("--exclude", metavar="GLOB", help="Skip jobs matching this glob. Repeatable."),
]
ParallelismOpt = Annotated[
    int,
    typer.Option("--parallelism", "-p", min=1, max=256, metavar="N", help="Concurrent submissions (1-256)."),
]
NoWaitOpt = Annotated[
    bool, typer.Option("--no-wait", help="Do not wait for async jobs; a later apply/refresh resumes them.")
]


def _duration(value: str) -> float:
    """A --timeout / --lock-timeout value: 90, 90s, 5m, 1h, 1m30s (a bare number is seconds)."""
    try:
        return parse_seconds(value)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def _usage_name(self: TyperArgument) -> str:
    """Arguments in usage lines as MANIFEST / [FILE] (typer's default wraps required ones in braces)."""
    name = self.display_name_raw
    name = name if self.required else f"[{name}]"
    return name + ("..." if self.nargs != 1 and not name.rstrip("]").endswith("...") else "")


TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]

TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        parser=_duration,
        metavar="DURATION",
        help="Stop waiting for async jobs after this long (90s, 5m, 1h; a bare number is seconds).",
    ),
]
LockTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--lock-timeout",
        parser=_duration,
        metavar="DURATION",
        show_default="0: fail at once",
        help="Wait this long for the state lock (30s, 5m; a bare number is seconds).",
    ),
]
AutoApproveOpt = Annotated[
    bool,
    typer.Option("--auto-approve", help="Do not ask for `yes` before submitting to a paid backend (aliyun)."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary and errors.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", help="One line per job event.")]


ManifestsArg = Annotated[
    list[Path],
    typer.Argument(
        help="One or more manifests (YAML); each is checked, every problem of every file is reported.",
        show_default=False,
        metavar="MANIFEST...",
    ),
]


@cli.command(short_help="Check manifests: schema and semantic rules, every problem.")
def validate(
    manifests: ManifestsArg,
    fmt: FormatOpt = Fmt.text,
    strict: Annotated[
        bool, typer.Option("--strict", help="Treat warnings as errors (notes stay notes).")
    ] = False,
) -> None:
    """Check manifests against the schema and the semantic rules; report every problem at once.

    Several manifests (a pre-commit hook passes the changed files) are checked in one process; the exit
    code is 1 if any of them is invalid. With one manifest, `--format json` prints one document; with
    several, a JSON list of such documents, each with its `file`.

    Example: specrunner validate specs/demo.yaml --format json
    """
    if len(manifests) > 1:
        _validate_many(manifests, fmt, strict)
    manifest = manifests[0]
    from specrunner.core.diagnostics import refused
    from specrunner.validate.manifest import check_manifest_document
    from specrunner.validate.yamlload import display_path

    document, diags = check_manifest_document(manifest)
    errors = refused(diags, strict=strict)
    if fmt == Fmt.text and len(diags) == 1 and diags[0].path == "$" and diags[0].message == "file not found":
        raise ManifestError("file not found", diags)  # one line with a hint, from the one handler
    if fmt == Fmt.json:
        typer.echo(
            json.dumps(
                {"format_version": "1.0", "valid": not errors, "diagnostics": [d.to_json() for d in diags]},
                indent=2,
            )
        )
    else:
        for d in diags:
            typer.echo(d.render(), err=bool(errors))
        if errors:
            typer.echo(f"error: {len(errors)} problem{'s' if len(errors) != 1 else ''} found", err=True)
        else:
            assert document is not None
            typer.echo(f"{display_path(manifest)}: valid ({_validate_counts(document)})")
    raise typer.Exit(EXIT_ERROR if errors else EXIT_OK)


def _validate_many(manifests: list[Path], fmt: Fmt, strict: bool) -> NoReturn:
    """``validate`` of several manifests: each one checked and reported in order, then one exit code.

    Text: a file's diagnostics, then ``FILE: valid (...)`` on stdout or ``error: FILE: N problems found``
    on stderr; a last line counts the invalid files. JSON: a list of the one-file documents, each with
    its ``file``. A missing or unreadable file is one diagnostic of its own, never the end of the run.
    """
    from specrunner.core.diagnostics import refused
    from specrunner.validate.manifest import check_manifest_document
    from specrunner.validate.yamlload import display_path

    documents: list[dict[str, Any]] = []
    invalid = 0
    for manifest in manifests:
        document, diags = check_manifest_document(manifest)
        errors = refused(diags, strict=strict)
        invalid += bool(errors)
        shown = display_path(manifest)
        if fmt == Fmt.json:
            documents.append(
                {
                    "format_version": "1.0",
                    "file": shown,
                    "valid": not errors,
                    "diagnostics": [d.to_json() for d in diags],
                }
            )
            continue
        for d in diags:
            typer.echo(d.render(), err=bool(errors))
        if errors:
            n = len(errors)
            typer.echo(f"error: {shown}: {n} problem{'s' if n != 1 else ''} found", err=True)
        else:
            assert document is not None
            typer.echo(f"{shown}: valid ({_validate_counts(document)})")
    if fmt == Fmt.json:
        typer.echo(json.dumps(documents, indent=2))
    elif invalid:
        typer.echo(f"error: {invalid} of {len(manifests)} manifests invalid", err=True)
    raise typer.Exit(EXIT_ERROR if invalid else EXIT_OK)


def _validate_counts(document: dict[str, Any]) -> str:
    """``2 inputs, 3 rules, 6 jobs``; with discovery entries the inputs and jobs are known at plan time."""
    from specrunner.validate.summary import document_counts

    c = document_counts(document)

    def n(count: int, word: str) -> str:
        return f"{count} {word}{'s' if count != 1 else ''}"

    rules = n(c.rules, "rule")
    if c.discoveries:
        listed = f"{n(c.inputs, 'listed input')} + " if c.inputs else ""
        found = n(c.discoveries, "discovery entry").replace("entrys", "entries")
        return (
            f"{listed}{found} (inputs found at plan time), {rules}; "
            "`specrunner plan MANIFEST` counts the jobs"
        )
    return f"{n(c.inputs, 'input')}, {rules}, {n(c.jobs, 'job')}"


@cli.command(short_help="Show what apply would do, job by job, and why.")
def plan(
    manifest: ManifestArg,
    state: StateOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Save the plan to FILE for `apply FILE`.")
    ] = None,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode", help="Exit 0: no changes, 1: error (a mistyped flag too), 2: changes."
        ),
    ] = False,
    target: TargetOpt = None,
    exclude: ExcludeOpt = None,
    fmt: RunFormatOpt = RunFmt.text,
    show_unchanged: Annotated[
        bool, typer.Option("--show-unchanged", "-v", help="List unchanged jobs too.")
    ] = False,
) -> None:
    """Show what apply would do, job by job: create, replace, retry, resume, forget; sync or async; why.

    Example: specrunner plan specs/demo.yaml --out demo.plan.json --detailed-exitcode
    """
    from specrunner.cli.plancmd import run_plan

    raise typer.Exit(
        run_plan(manifest, state, out, detailed_exitcode, target, exclude, fmt.value, show_unchanged)
    )


@cli.command(short_help="Submit the plan's jobs, wait for them, record them.")
def apply(
    manifest: Annotated[
        Path,
        typer.Argument(
            help="The manifest (YAML), or a plan file saved by `plan --out`.",
            show_default=False,
            metavar="MANIFEST|PLANFILE",
        ),
    ],
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
    auto_approve: AutoApproveOpt = False,
) -> None:
    """Apply the manifest (or a saved plan): submit, poll, and record every job in the state file.

    Example: specrunner apply specs/demo.yaml --parallelism 20
    """
    _run_apply(
        manifest,
        state,
        parallelism,
        no_wait,
        timeout,
        lock_timeout,
        target,
        exclude,
        fmt,
        quiet,
        verbose,
        only_failed=False,
        auto_approve=auto_approve,
    )


def _run_apply(
    manifest: Path,
    state: Path | None,
    parallelism: int,
    no_wait: bool,
    timeout: float | None,
    lock_timeout: float,
    target: list[str] | None,
    exclude: list[str] | None,
    fmt: RunFmt,
    quiet: bool,
    verbose: bool,
    *,
    only_failed: bool,
    auto_approve: bool = False,
) -> NoReturn:
    from specrunner.render import text as render
    from specrunner.render.progress import Progress

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
            if only_failed and ctx.state is None:
                typer.echo(
                    f"Nothing to retry: there is no state file at {ctx.state_path} yet, so no job has "
                    f"failed. Run `specrunner apply {manifest}` first."
                )
                raise typer.Exit(0)
        progress = Progress(quiet=quiet or fmt != RunFmt.text, verbose=verbose)
        opts = core.ApplyOptions(
            parallelism=parallelism, wait=not no_wait, lock_timeout=lock_timeout, timeout=timeout
        )
        from specrunner.cli.approval import Approval

        approval = Approval(
            backend=ctx.manifest.target.backend,
            manifest=str(ctx.manifest_path),
            text=fmt == RunFmt.text,
            quiet=quiet,
            auto_approve=auto_approve,
            saved_plan=saved is not None,
            command="retry" if only_failed else "apply",
            selection=_selection_args(state, target, exclude),
        )
        outcome = core.apply(
            ctx,
            req,
            opts,
            on_event=progress.event,
            saved_plan=saved,
            executor_hook=lambda ex: _install_signal_handlers(ex, ctx.manifest_path),
            confirm=approval,
        )
        progress.close()
    except SpecrunnerError as e:
        _handle(e, Fmt.json if fmt == RunFmt.json else Fmt.text)
    if fmt == RunFmt.markdown:
        from specrunner.render.markdown import apply_markdown

        hint = f"the run results file `{outcome.run_file}`" if outcome.run_file else "`--format json`"
        typer.echo(
            apply_markdown(outcome.plan, outcome.summary, str(ctx.manifest_path), json_hint=hint), nl=False
        )
    elif fmt == RunFmt.json:
        doc = {
            "format_version": "1.0",
            "kind": "specrunner-apply",
            "counts": outcome.summary.counts(),
            "exit_code": outcome.exit_code(),
            "state_changed": outcome.state_changed,
            "run_results": str(outcome.run_file) if outcome.run_file else None,
            "recovered": {
                "adopted": outcome.summary.recovered_adopted,
                "resubmitted": outcome.summary.recovered_resubmitted,
            },
            "results": outcome.summary.acted_on(),
        }
        typer.echo(render.to_json(doc))
    else:
        if outcome.stale_lock and "unrenewed_s" in outcome.stale_lock:
            typer.echo(
                f"note: took over the lock of {core.describe_lock(outcome.stale_lock)}: its lease stayed "
                f"unrenewed for {outcome.stale_lock['unrenewed_s']:g} s as this runner watched it (the "
                "process is gone, or frozen: then it can no longer submit)",
                err=True,
            )
        elif outcome.stale_lock:
            typer.echo(
                f"note: cleaned up lock info left by a process that is gone "
                f"({core.describe_lock(outcome.stale_lock)})",
                err=True,
            )
        rec = outcome.summary.recovered_adopted + outcome.summary.recovered_resubmitted
        if rec:
            typer.echo(
                f"{rec} interrupted submission{'s' if rec != 1 else ''} found: "
                f"{outcome.summary.recovered_adopted} adopted, "
                f"{outcome.summary.recovered_resubmitted} resubmitted."
            )
        if not quiet and not approval.printed:
            typer.echo(render.plan_summary_line(outcome.plan))
        typer.echo(render.run_text(outcome.summary, str(ctx.manifest_path)))
        if outcome.state_changed:
            typer.echo(f"State written to {ctx.state_path}.")
        elif not quiet:
            typer.echo(f"State unchanged: {ctx.state_path}.")
    raise typer.Exit(outcome.exit_code())


def _selection_args(
    state: Path | None, target: list[str] | None, exclude: list[str] | None
) -> tuple[str, ...]:
    """The options that decide which jobs a command acts on, as arguments to repeat in a hint."""
    args: list[str] = ["--state", str(state)] if state else []
    for flag, globs in (("--target", target), ("--exclude", exclude)):
        for g in globs or ():
            args += [flag, g]
    return tuple(args)


def _install_signal_handlers(executor: Any, manifest: Path | None = None) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, frame: Any) -> None:
        if executor.stop.is_set():
            # Terraform's "Two interrupts received. Exiting immediately.": the journal and the
            # fsynced intents make this as safe as a crash; the kernel drops the flock.
            sys.stderr.write(
                "\nTwo interrupts received: exiting immediately. The state is recoverable: "
                "the next command replays its journal and looks up any submission in "
                f"flight by its tag (run `specrunner plan {manifest or 'MANIFEST'}` "
                "to see them).\n"
            )
            if sys.stderr.isatty():
                sys.stderr.write("\x1b[?25h")  # the live bar hid the cursor
            sys.stderr.flush()
            sys.stdout.flush()
            os._exit(130)
        executor.stop.set()
        typer.echo(
            f"\nInterrupted ({signal.Signals(signum).name}): no new submissions; letting the calls in "
            "flight end (a few seconds) and saving the state. Interrupt again to exit at once.",
            err=True,
        )

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


@cli.command(short_help="Show what the state file records, as a table.")
def show(
    manifest: ManifestArg,
    state: StateOpt = None,
    fmt: FormatOpt = Fmt.text,
) -> None:
    """Show what the state file records, as a table.

    Example: specrunner show specs/demo.yaml
    """
    from specrunner.render import text as render
    from specrunner.statefile.remote import OssState, locate, read_any

    if fmt == Fmt.json:
        json_errors.set(True)
    _manifest_exists(manifest, state)
    where = locate(manifest, state)
    spath = where.path if isinstance(where, OssState) else where
    doc = read_any(where)
    rows = core.state_rows(doc)
    if fmt == Fmt.json:
        typer.echo(
            render.to_json(
                {
                    "format_version": "1.0",
                    "kind": "specrunner-state",
                    "state": str(spath),
                    "lineage": doc.lineage if doc else None,
                    "serial": doc.serial if doc else None,
                    "manifest": doc.owner if doc else None,
                    "jobs": rows,
                }
            )
        )
    else:
        if doc is None:
            typer.echo(f"No state file at {spath} yet: run `specrunner apply {manifest}`.")
        else:
            typer.echo(render.state_text(rows, doc.lineage, doc.serial, doc.owner))


def _manifest_exists(manifest: Path, state: Path | None) -> None:
    """Commands that only read the state still name a manifest: a wrong one is an error, not "no state"."""
    if state is None and not manifest.is_file():
        raise SpecrunnerError(
            f"{manifest}: no such file",
            hint="give the manifest the state file belongs to (or the state with --state PATH)",
        )


@cli.command(short_help="Print the manifest JSON Schema.")
def schema() -> None:
    """Print the manifest JSON Schema (draft 2020-12).

    Example: specrunner schema > manifest.v1.json
    """
    from specrunner.validate.schema import schema_text

    typer.echo(schema_text(), nl=False)


@cli.command(short_help="Resubmit only the jobs whose last outcome is Fail.")
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
    auto_approve: AutoApproveOpt = False,
) -> None:
    """Rerun only the jobs whose last outcome is Fail (an apply restricted to failures).

    Example: specrunner retry specs/demo.yaml
    """
    _run_apply(
        manifest,
        state,
        parallelism,
        no_wait,
        timeout,
        lock_timeout,
        target,
        exclude,
        fmt,
        quiet,
        verbose,
        only_failed=True,
        auto_approve=auto_approve,
    )


@cli.command(short_help="Poll unfinished jobs and record their outcomes.")
def refresh(
    manifest: ManifestArg,
    state: StateOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Poll once; do not wait for running jobs to finish.")
    ] = False,
    fmt: FormatOpt = Fmt.text,
) -> None:
    """Poll every job that is not final and record its outcome. Submits nothing.

    Example: specrunner refresh specs/demo.yaml --no-wait
    """
    from specrunner.render import text as render

    try:
        ctx = core.load_context(manifest, state)
        outcome = core.refresh(ctx, core.ApplyOptions(wait=not no_wait, lock_timeout=lock_timeout))
    except SpecrunnerError as e:
        _handle(e, fmt)
    c = outcome.summary.counts()
    if fmt == Fmt.json:
        typer.echo(
            render.to_json(
                {
                    "format_version": "1.0",
                    "kind": "specrunner-refresh",
                    "counts": c,
                    "state_changed": outcome.state_changed,
                }
            )
        )
    else:
        typer.echo(
            f"Refresh: {len(outcome.plan.changes)} job(s) not final; {c['succeeded']} succeeded, "
            f"{c['failed']} failed, {c['pending']} still running or unresolved, {c['adopted']} adopted."
        )
        typer.echo(f"State {'written to' if outcome.state_changed else 'unchanged:'} {ctx.state_path}.")
    raise typer.Exit(EXIT_FAILED if c["failed"] else EXIT_PENDING if c["pending"] else EXIT_OK)


@cli.command("import", short_help="Adopt an existing MTS job into the state.")
def import_(
    manifest: ManifestArg,
    key: Annotated[
        str, typer.Argument(help="The job key, <input id>::<rule id>.", show_default=False, metavar="KEY")
    ],
    job_id: Annotated[
        str, typer.Argument(help="The MTS job id to adopt.", show_default=False, metavar="JOB_ID")
    ],
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


state_cli = typer.Typer(
    help="State surgery: list, show, mv and rm records, claim the state for a moved manifest "
    "(changes take the lock, bump the serial).",
    short_help="State surgery: list, show, mv, rm, claim.",
    no_args_is_help=True,
)
cli.add_typer(state_cli, name="state")


@state_cli.command("list", short_help="List the job keys in the state.")
def state_list(
    manifest: ManifestArg,
    state: StateOpt = None,
) -> None:
    """List the job keys in the state, one per line, with their state.

    Example: specrunner state list specs/demo.yaml
    """
    from specrunner.statefile.remote import locate, read_any

    _manifest_exists(manifest, state)
    where = locate(manifest, state)
    doc = read_any(where)
    if doc is None:
        typer.echo(f"No state file at {where} yet: run `specrunner apply {manifest}`.", err=True)
    for row in core.state_rows(doc):
        typer.echo(f"{row['key']}\t{row['state'] or '-'}\t{row['job_id'] or '-'}")


@state_cli.command("mv", short_help="Rename a job key, rule or input without resubmitting.")
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
    lock_timeout: LockTimeoutOpt = 0.0,
) -> None:
    """Rename a job key, rule or input in the state without resubmitting (same request only).

    Example: specrunner state mv specs/demo.yaml poster cover
    """
    from specrunner.ops.statecmds import state_move

    ctx = core.load_context(manifest, state)
    moves = state_move(ctx, old, new, lock_timeout=lock_timeout)
    for src, dst in moves:
        typer.echo(f"Moved {src} -> {dst}")
    typer.echo(
        f"Moved {len(moves)} record{'s' if len(moves) != 1 else ''}; nothing was submitted. "
        f"State written to {ctx.state_path}."
    )


@state_cli.command("show", short_help="Show one record of the state in full.")
def state_show(
    manifest: ManifestArg,
    key: Annotated[
        str, typer.Argument(help="The job key, <input id>::<rule id>.", show_default=False, metavar="KEY")
    ],
    state: StateOpt = None,
    fmt: FormatOpt = Fmt.text,
) -> None:
    """Show one record of the state in full: job id, outcome, whole message, outputs, request.

    Example: specrunner state show specs/demo.yaml videos/intro.mp4::poster
    """
    from specrunner.ops.statecmds import find_record, record_text
    from specrunner.render import text as render
    from specrunner.statefile.state import default_state_path, read_state

    if fmt == Fmt.json:
        json_errors.set(True)
    rec = find_record(read_state(state or default_state_path(manifest)), key, str(manifest))
    typer.echo(render.to_json({"key": key, "record": rec}) if fmt == Fmt.json else record_text(key, rec))


@state_cli.command("rm", short_help="Remove records from the state (nothing is deleted).")
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
    lock_timeout: LockTimeoutOpt = 0.0,
) -> None:
    """Remove records from the state; the next plan creates those jobs again.

    Example: specrunner state rm specs/demo.yaml videos/intro.mp4::poster
    """
    from specrunner.statefile.remote import OssState, locate

    try:
        where = locate(manifest, state)
        arg = None if state is None else (where.url if isinstance(where, OssState) else str(state))
        removed = core.state_remove(where, keys, lock_timeout=lock_timeout, manifest=manifest, state_arg=arg)
    except SpecrunnerError as e:
        _handle(e)
    typer.echo(f"Removed {len(removed)} record(s) from the state.")


@state_cli.command("claim", short_help="Make the manifest the owner of its state (after a move or rename).")
def state_claim(
    manifest: ManifestArg,
    state: StateOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
) -> None:
    """Record MANIFEST as the owner of the state, after moving or renaming it on purpose.

    A state in OSS or given with --state refuses every other manifest than the one it records (its
    `name:`, else its path in the git repository): plan, apply, refresh and retry fail naming both.
    This takes the state's lock, shows the previous owner and records MANIFEST; nothing else changes.

    Example: specrunner state claim specs/site.yaml
    """
    from specrunner.ops.statecmds import state_claim as claim

    ctx = core.load_context(manifest, state, expand_jobs=False)
    previous, owner, written = claim(ctx, lock_timeout=lock_timeout)
    where = ctx.remote.url if ctx.remote is not None else str(ctx.state_path)
    if previous == owner:
        typer.echo(f"{where} belongs to {owner!r} ({manifest}) already: nothing changed.")
        return
    before = repr(previous) if previous is not None else "none recorded"
    typer.echo(
        f"Claimed {where} for {owner!r} ({manifest}); previous owner: {before}. "
        "Nothing else changed." + (f" State written to {where}." if written else "")
    )


@state_cli.command("repair", short_help="Recover a damaged state, keeping every job id it holds.")
def state_repair(
    manifest: ManifestArg,
    state: StateOpt = None,
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
    from specrunner.statefile.remote import OssState, locate
    from specrunner.statefile.remote import repair as repair_remote

    try:
        where = locate(manifest, state)
        if isinstance(where, OssState):
            got = repair_remote(where, lock_timeout=lock_timeout)
            label = where.url
        else:
            from specrunner.statefile.locking import acquire
            from specrunner.statefile.state import repair_local

            with acquire(where, "state repair", timeout=lock_timeout, manifest=manifest):
                got = repair_local(where)
            label = str(where)
    except SpecrunnerError as e:
        _handle(e)
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
        f"Next: specrunner plan {manifest}"
    )


@cli.command("force-unlock", short_help="Stop the holder of the state's lock safely, or remove a dead one's.")
def force_unlock(
    manifest: ManifestArg,
    lock_id: Annotated[
        str, typer.Argument(help="The lock id named in the error.", show_default=False, metavar="LOCK_ID")
    ],
    state: StateOpt = None,
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
    from specrunner.statefile.locking import force_unlock as _force
    from specrunner.statefile.remote import OssState, locate
    from specrunner.statefile.remote import force_unlock as _force_remote

    try:
        where = locate(manifest, state)
        info = _force_remote(where, lock_id) if isinstance(where, OssState) else _force(where, lock_id)
    except SpecrunnerError as e:
        _handle(e)
    typer.echo(f"Unlocked: removed the lock of {core.describe_lock(info)}.")


@cli.command(short_help="Write a commented starter manifest.")
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter manifest.", metavar="FILE")] = Path(
        "specrunner.yaml"
    ),
    backend: Annotated[
        str, typer.Option("--backend", metavar="local|aliyun", help="local or aliyun.")
    ] = "local",
) -> None:
    """Write a commented starter manifest (never overwrites).

    Example: specrunner init specs/site.yaml --backend aliyun
    """
    from specrunner.ops.starter import schema_reference, starter_manifest, write_schema_copy

    if backend not in ("local", "aliyun"):
        _err(f"unknown backend {backend!r}; use local or aliyun")
    if path.exists():
        _err(f"{path} already exists; choose another path or remove it first")
    wrote_schema = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(starter_manifest(path, backend), encoding="utf-8")
        _, local_schema = schema_reference(path)
        if local_schema is not None and write_schema_copy(local_schema):
            wrote_schema = local_schema
    except OSError as e:
        _err(f"cannot write {path}: {e.strerror or e}")
    extra = f" and {path.parent / wrote_schema.name} (the schema, for editors)" if wrote_schema else ""
    typer.echo(f"Wrote {path}{extra}. Next: specrunner validate {path} && specrunner plan {path}")


_EXTENSION_SUMMARIES = {
    "emulator": "Serve the MTS API on 127.0.0.1 over the local engine.",
    "preview": "Run the rules locally in a scratch folder; contact sheet.",
    "report": "Write an HTML contact sheet of the last apply.",
}


def _register_extensions() -> None:
    """Commands that live in their own packages (each module imports only stdlib + typer at load)."""
    import importlib

    from specrunner.statefile.transfer import pull, push

    state_cli.command("pull")(pull)
    state_cli.command("push")(push)
    for module, names in (("cli.emulator", ("emulator",)), ("cli.report", ("preview", "report"))):
        try:
            mod = importlib.import_module(f"specrunner.{module}")
        except ModuleNotFoundError as e:  # pragma: no cover - while a package is being built
            if not f"specrunner.{module}".startswith(e.name or "-"):
                raise
            continue
        for name in names:
            cli.command(name, short_help=_EXTENSION_SUMMARIES.get(name))(getattr(mod, name))


_register_extensions()


def main() -> None:
    """The console script. Every exit code is decided by ``exits.SpecrunnerGroup.main``."""
    cli()


if __name__ == "__main__":  # pragma: no cover
    main()
