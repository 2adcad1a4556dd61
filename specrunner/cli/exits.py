"""The one error handler: every exception that leaves a command becomes one exit code and one message.

Invariants:
- A :class:`SpecrunnerError` prints ``error: <message>`` (and ``hint: <hint>``) on stderr, or, when
  the command was asked for JSON, a JSON document on stdout; it exits with the error's ``exit_code``.
- A usage error (unknown option, missing argument, bad value) prints click's message and exits 1,
  never 2: 2 means "there are changes" for ``plan --detailed-exitcode``.
- Ctrl-C (``KeyboardInterrupt`` / click's ``Abort``) exits 130.
- Anything else is a bug: one line saying so and naming the file that holds the full traceback
  (``$TMPDIR/specrunner-bug-<UTC time>-<pid>.txt``; the traceback only, never local variables),
  exit 70.
- ``typer.Exit`` (a command's own result code: 0, 2, 3, 4, 130) passes through unchanged.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import traceback
from collections.abc import Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from typer import _click
from typer.core import TyperGroup

from specrunner.cli.coercion import defer_coercion
from specrunner.core.errors import EXIT_BUG, EXIT_ERROR, EXIT_INTERRUPTED, ManifestError, SpecrunnerError

# Set by a command that prints JSON: its errors are JSON documents on stdout too.
json_errors: ContextVar[bool] = ContextVar("json_errors", default=False)


def report(e: SpecrunnerError) -> int:
    """Print ``e`` the way the user asked for output; return its exit code."""
    if isinstance(e, ManifestError) and e.diagnostics:
        missing = [d for d in e.diagnostics if d.path == "$" and d.message == "file not found"]
        if missing and len(e.diagnostics) == 1 and not json_errors.get():
            name = missing[0].file
            typer.echo(f"error: {name}: file not found", err=True)
            typer.echo(
                f"hint: check the path; `specrunner init {shlex.quote(name)}` writes a starter manifest",
                err=True,
            )
            return e.exit_code
        if json_errors.get():
            typer.echo(
                json.dumps(
                    {
                        "format_version": "1.0",
                        "valid": False,
                        "diagnostics": [d.to_json() for d in e.diagnostics],
                    },
                    indent=2,
                )
            )
        else:
            for d in e.diagnostics:
                typer.echo(d.render(), err=True)
            n = sum(1 for d in e.diagnostics if d.severity == "error")
            typer.echo(f"error: {n} problem{'s' if n != 1 else ''} found", err=True)
        return e.exit_code
    typer.echo(f"error: {e.message}", err=True)
    if e.hint:
        typer.echo(f"hint: {e.hint}", err=True)
    return e.exit_code


def bug_report(exc: BaseException) -> Path | None:
    """Write the traceback of an unexpected error to a file; return it (None if nothing could be written)."""
    import tempfile  # only for a bug: not a cost of every start

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(tempfile.gettempdir()) / f"specrunner-bug-{stamp}-{os.getpid()}.txt"
    from specrunner import __version__

    text = (
        f"specrunner {__version__}, Python {sys.version.split()[0]}\n"
        f"command: specrunner {' '.join(sys.argv[1:])}\n\n"
        + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    )
    try:
        path.write_text(text, encoding="utf-8")
    except OSError:
        return None
    return path


def handle_exception(exc: BaseException) -> int:
    """Map one exception to its exit code, printing what the user needs. The only such mapping."""
    if isinstance(exc, SpecrunnerError):
        return report(exc)
    if isinstance(exc, _click.exceptions.ClickException):  # usage errors and bad values
        exc.show()
        return EXIT_ERROR
    if isinstance(exc, (KeyboardInterrupt, typer.Abort)):
        typer.echo("\nInterrupted.", err=True)
        return EXIT_INTERRUPTED
    path = bug_report(exc)
    where = f"the full traceback is in {path}" if path else "the traceback could not be written"
    typer.echo(
        f"error: specrunner hit a bug ({type(exc).__name__}); {where}. Please report it with that file.",
        err=True,
    )
    return EXIT_BUG


class SpecrunnerGroup(TyperGroup):
    """The root command: runs click in non-standalone mode and owns every exit."""

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
        try:
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
        if standalone_mode:
            sys.exit(code)
        return code
