"""The command line: the typer application and its command tree, in the order ``--help`` lists it.

The commands live in modules of their own (``manifestcmds``, ``runcmds``, ``statecmds``,
``refreshcmds``, ``emulator``, ``report``); each parses its arguments, calls the work, renders and
exits with a documented code. This module names them, gives each its one-line summary and adds them
to ``cli``.

Exit codes (``errors.EXIT_*``, the README's table): 0 success / no changes; 1 error (bad input, usage
error, refused, fatal); 2 ``plan --detailed-exitcode`` with changes; 3 apply finished with failed jobs;
4 apply left jobs running or unresolved (``--no-wait``, ``--timeout``); 70 a bug; 130 interrupted
(Ctrl-C / SIGTERM), after persisting. Errors never pick a code in a command: they are raised, and
``exits.SpecrunnerGroup`` maps each to its code in one place.

Start-up (``--help``, shell completion) imports this module and the command modules, which import
only stdlib, typer and ``cli.options`` at module level; what a command needs is imported when it runs.
No ``from __future__ import annotations`` here: typer reads the annotations of every command at each
start; as objects they are read as they are, as strings each one is compiled and evaluated again.
"""

from collections.abc import Callable
from typing import Annotated

import typer
from typer.core import TyperArgument

from specrunner import __version__
from specrunner.cli import emulator, manifestcmds, prunecmd, refreshcmds, report, runcmds, statecmds
from specrunner.cli.exits import ManifestCommand, SpecrunnerGroup
from specrunner.cli.transfer import pull, push

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


def _usage_name(self: TyperArgument) -> str:
    """Arguments in usage lines as MANIFEST / [FILE] (typer's default wraps required ones in braces)."""
    name = self.display_name_raw
    name = name if self.required else f"[{name}]"
    return name + ("..." if self.nargs != 1 and not name.rstrip("]").endswith("...") else "")


TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]


def _add(app: typer.Typer, commands: tuple[tuple[str, Callable[..., None], str | None], ...]) -> None:
    """Add each (name, command function, one-line summary for the parent's list) to ``app``, in order."""
    for name, command, summary in commands:
        app.command(name, short_help=summary, cls=ManifestCommand)(command)


_add(
    cli,
    (
        ("validate", manifestcmds.validate, "Check manifests: schema and semantic rules, every problem."),
        ("plan", runcmds.plan, "Show what apply would do, job by job, and why."),
        ("apply", runcmds.apply, "Submit the plan's jobs, wait for them, record them."),
        ("show", statecmds.show, "Show what the state file records, as a table."),
        ("outputs", statecmds.outputs, "List every object the recorded jobs produced."),
        ("schema", manifestcmds.schema, "Print the manifest JSON Schema."),
        ("retry", runcmds.retry, "Resubmit only the jobs whose last outcome is Fail."),
        ("refresh", refreshcmds.refresh, "Poll unfinished jobs and record their outcomes."),
        ("import", refreshcmds.import_, "Adopt an existing MTS job into the state."),
        ("prune", prunecmd.prune, "Delete outputs that only forgotten or replaced jobs named."),
        (
            "force-unlock",
            statecmds.force_unlock,
            "Stop the holder of the state's lock safely, or remove a dead one's.",
        ),
        ("init", manifestcmds.init, "Write a commented starter manifest."),
        ("emulator", emulator.emulator, "Serve the MTS API on 127.0.0.1 over the local engine."),
        ("preview", report.preview, "Run the rules locally in a scratch folder; contact sheet."),
        ("report", report.report, "Write an HTML contact sheet of the last apply."),
    ),
)

state_cli = typer.Typer(
    help="State surgery: list, show, mv and rm records, claim the state for a moved manifest "
    "(changes take the lock, bump the serial).",
    short_help="State surgery: list, show, mv, rm, claim.",
    no_args_is_help=True,
)
_add(
    state_cli,
    (
        ("list", statecmds.state_list, "List the job keys in the state."),
        ("mv", statecmds.state_mv, "Rename a job key, rule or input without resubmitting."),
        ("show", statecmds.state_show, "Show one record of the state in full."),
        ("rm", statecmds.state_rm, "Remove records from the state (nothing is deleted)."),
        (
            "claim",
            statecmds.state_claim,
            "Make the manifest the owner of its state (after a move or rename).",
        ),
        ("repair", statecmds.state_repair, "Recover a damaged state, keeping every job id it holds."),
        ("pull", pull, None),  # cli.transfer's: click shortens their docstrings for the list
        ("push", push, None),
    ),
)
cli.add_typer(state_cli, name="state")


def main() -> None:
    """The console script. Every exit code is decided by ``exits.SpecrunnerGroup.main``."""
    cli()
