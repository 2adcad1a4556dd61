"""The one error handler: every exception that leaves a command becomes one exit code and one message.

Invariants:
- A :class:`SpecrunnerError` prints ``error: <message>`` (and ``hint: <hint>``) on stderr, or, when
  the command was asked for JSON, a JSON document on stdout; it exits with the error's ``exit_code``.
- A usage error (unknown option, missing argument, bad value) prints click's message and exits 1,
  never 2: 2 means "there are changes" for ``plan --detailed-exitcode``.
- A command line that asks a command with a ``--format`` option for JSON (``--format json``) gets
  every error as one JSON document on stdout (``errors.report``), those found before the command runs
  too: a Terraform habit, an unknown option, a bad value.
- Ctrl-C (``KeyboardInterrupt`` / click's ``Abort``) exits 130, saying so (``errors.handle``).
- Anything else is a bug: one line saying so and naming the file that holds the full traceback
  (``$TMPDIR/specrunner-bug-<UTC time>-<pid>.txt``; the traceback only, never local variables),
  exit 70.
- ``typer.Exit`` (a command's own result code: 0, 2, 3, 4, 130) passes through unchanged.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup

from specrunner.cli import habits, planfile
from specrunner.cli.coercion import defer_coercion, flag_values
from specrunner.cli.errors import (
    command_args,
    document_started,
    handle,
    json_errors,
    record_command,
    report_usage,
)
from specrunner.core.errors import EXIT_ERROR
from specrunner.validate.variables import FROM_ENV, GIVEN, Given


def handle_exception(exc: BaseException) -> int:
    """Map one exception to its exit code, printing what the user needs. The only such mapping: click's
    own errors here, everything else in ``errors.handle`` (which the typer-free commands use too)."""
    if isinstance(exc, _click.exceptions.ClickException):  # usage errors and bad values
        if json_errors.get():
            return report_usage(exc.format_message(), _help_hint(exc))
        exc.show()
        return EXIT_ERROR
    if isinstance(exc, typer.Abort | Interrupted):
        return handle(KeyboardInterrupt())
    return handle(exc)


def _help_hint(exc: Any) -> str | None:
    """The hint of a usage error: its command's ``--help``, as a command to paste (None: no command)."""
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return None
    names: list[str] = []
    while ctx.parent is not None:
        names.insert(0, ctx.info_name or "")
        ctx = ctx.parent
    return f"`{' '.join(['specrunner', *names, '--help'])}` lists the options"


def asks_json(args: Sequence[str], group: Any) -> bool:
    """``args`` give ``--format json`` to a command that has a ``--format`` option (the others, e.g.
    ``import``, answer an unknown ``--format`` as the usage error it is, in text)."""
    words = list(args)
    if "--" in words:
        words = words[: words.index("--")]
    pairs = zip(words, [*words[1:], ""], strict=True)
    given = [w.partition("=")[2] if "=" in w else n for w, n in pairs if w.partition("=")[0] == "--format"]
    if not given or given[-1] != "json":  # the last one given is the one the command uses
        return False
    names = [w for w in words if not w.startswith("-")]
    command = getattr(group, "commands", {}).get(names[0]) if names else None
    sub = getattr(command, "commands", None)
    if sub is not None:
        command = sub.get(names[1]) if len(names) > 1 else None
    opts = {o for p in getattr(command, "params", ()) for o in getattr(p, "opts", ())}
    return "--format" in opts


class ManifestCommand(TyperCommand):
    """A command that records the manifest (and ``--state``) it was given, parsed, before it runs: an
    error's hint then names them instead of ``MANIFEST`` (``errors.pasteable``)."""

    def invoke(self, ctx: _click.Context) -> Any:
        manifest, state = ctx.params.get("manifest"), ctx.params.get("state")
        if manifest is not None:
            record_command(str(manifest), None if state is None else str(state))
            if isinstance(manifest, Path):
                planfile.refuse(_verb(ctx), manifest)
        return super().invoke(ctx)


class Interrupted(BaseException):
    """Ctrl-C inside a command, carried past typer (which turns a ``KeyboardInterrupt`` into a bare
    exit 130, printing nothing) to ``handle``: "Interrupted.", or the error document under JSON."""


def _verb(ctx: Any) -> str:
    """The command's name as typed after ``specrunner`` (``state list``)."""
    names: list[str] = []
    while ctx.parent is not None:
        names.insert(0, ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(names)


class SpecrunnerGroup(TyperGroup):
    """The root command: runs click in non-standalone mode and owns every exit."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return list(super().parse_args(ctx, flag_values(args)))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as e:
            raise Interrupted() from e

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        defer_coercion()  # completion and --help never build pydantic adapters for unset values
        token = json_errors.set(False)
        started = document_started.set(False)
        given = GIVEN.set(Given())  # --var / --var-file of this invocation only
        from_env = FROM_ENV.set({})
        args_token = command_args.set(None)
        try:
            if complete_var is None and "_SPECRUNNER_COMPLETE" not in os.environ:
                argv = sys.argv[1:] if args is None else list(args)
                if asks_json(argv, self):
                    json_errors.set(True)
                habits.check(argv, self)
            rv = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
            code = rv if isinstance(rv, int) else 0
        except SystemExit as e:  # shell completion and click's own exits
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else EXIT_ERROR)
        except BaseException as e:  # this is the one place that maps everything
            code = handle_exception(e)
        finally:
            json_errors.reset(token)
            document_started.reset(started)
            GIVEN.reset(given)
            FROM_ENV.reset(from_env)
            command_args.reset(args_token)
        if standalone_mode:
            sys.exit(code)
        return code
