"""The arguments and options several commands share: their names, help, metavars and parsing.

Loaded at every start (completion and ``--help`` too): module-level imports are stdlib, typer and the
typer-free ``cli.errors`` only.

No ``from __future__ import annotations`` (as in ``cli.main``): typer reads the annotations of every
command at each start; as objects they are read as they are, as strings each one is compiled and
evaluated again.
"""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from specrunner.cli.errors import json_errors


class Fmt(StrEnum):
    text = "text"
    json = "json"


class RunFmt(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


def errors_follow(fmt: Fmt | RunFmt) -> None:
    """A command asked for JSON prints its errors as JSON documents on stdout too (``errors.report``)."""
    if fmt.value == "json":
        json_errors.set(True)


def _duration(value: str) -> float:
    """A --timeout / --lock-timeout value: 90, 90s, 5m, 1h, 1m30s (a bare number is seconds)."""
    # Imported only when such an option is given: completion and --help never load decimal and the regexes.
    from specrunner.core.durations import parse_seconds

    try:
        return parse_seconds(value)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def _given_vars(value: list[str] | None) -> list[str] | None:
    """--var NAME=VALUE, checked and recorded for every manifest the command reads."""
    if value:
        from specrunner.validate.variables import give, parse_pair

        try:
            give(cli=tuple(parse_pair(v) for v in value))
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
    return value


def _given_var_files(value: list[Path] | None) -> list[Path] | None:
    """--var-file FILE, recorded for every manifest the command reads (read when it is)."""
    if value:
        from specrunner.validate.variables import give

        give(files=tuple(value))
    return value


# The argument itself, for a command that declares the manifest with another annotation (``runcmds``).
MANIFEST = typer.Argument(help="The manifest (YAML).", show_default=False, metavar="MANIFEST")
ManifestArg = Annotated[Path, MANIFEST]
KeyArg = Annotated[
    str, typer.Argument(help="The job key, <input id>::<rule id>.", show_default=False, metavar="KEY")
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
ReplaceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--replace",
        metavar="GLOB",
        help="Submit the jobs matching this glob again, whatever the state says (job key, input id or "
        "rule id). Repeatable.",
    ),
]
RefreshOpt = Annotated[
    bool,
    typer.Option(
        "--refresh/--no-refresh",
        help="Check the recorded outputs and inputs against the buckets first (a missing or changed "
        "one is replaced). --refresh=false (or --no-refresh) skips it: no listing, the state as recorded.",
    ),
]
ParallelismOpt = Annotated[
    int,
    typer.Option("--parallelism", "-p", min=1, max=256, metavar="N", help="Concurrent submissions (1-256)."),
]
NoWaitOpt = Annotated[
    bool, typer.Option("--no-wait", help="Do not wait for async jobs; a later apply/refresh resumes them.")
]
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
VerboseOpt = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="One line per job event; the plan lists every job of a group."),
]
NoColorOpt = Annotated[
    bool, typer.Option("--no-color", help="No colour (also with NO_COLOR set, or when not a terminal).")
]
VarOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--var",
        metavar="NAME=VALUE",
        callback=_given_vars,
        help="Set a variable of the manifest's variables: block (over --var-file, SPECRUNNER_VAR_NAME "
        "and the default). Repeatable. Never a secret: plans print the values.",
    ),
]
VarFileOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--var-file",
        metavar="FILE",
        callback=_given_var_files,
        help="A YAML file of NAME: value for the manifest's variables (a later file wins). Repeatable.",
    ),
]
