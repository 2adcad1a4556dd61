"""What a command's exception becomes: one message and one exit code. Typer-free, so that the commands
that run without the CLI framework (``cli.fast``) map errors exactly as the framework's root does
(``exits.SpecrunnerGroup``, which delegates everything but click's own errors here).

Invariants:
- A :class:`SpecrunnerError` prints ``error: <message>`` (and ``hint: <hint>``) on stderr and exits
  with the error's ``exit_code``.
- Ctrl-C (``KeyboardInterrupt``) exits 130.
- Anything else is a bug: one line saying so and naming the file that holds the full traceback
  (``$TMPDIR/specrunner-bug-<UTC time>-<pid>.txt``; the traceback only, never local variables),
  exit 70.
- A command asked for JSON (``json_errors``: ``--format json``) prints, instead of those lines,
  exactly one JSON document on stdout and nothing on stderr, with the same exit code: an invalid
  manifest's validation document (``valid: false``, ``schemas/validate.v1.json``), else the error
  document (``kind: specrunner-error``, ``schemas/error.v1.json``). stdout then always parses.
- A reader gone before the document is written (a closed pipe: ``| head -c 0``) is no second error:
  the document is dropped, as click drops a command's output then, and the exit code stays.
"""

from __future__ import annotations

import os
import re
import sys
from contextvars import ContextVar
from pathlib import Path

from specrunner.core import shellwords
from specrunner.core.errors import EXIT_BUG, EXIT_ERROR, EXIT_INTERRUPTED, ManifestError, SpecrunnerError
from specrunner.render.json import dumps, error_document, validate_document, validate_json
from specrunner.validate.variables import given_options


def echo(message: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Print one message (what ``typer.echo`` does with text: the line, then a flush)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(message + ("\n" if nl else ""))
    stream.flush()


def print_document(text: str) -> None:
    """Print one JSON document on stdout; a closed stdout drops it (nobody reads it) without an error."""
    document_started.set(True)
    try:
        echo(text)
    except BrokenPipeError:
        # Later writes (the interpreter's last flush included) go nowhere instead of failing again.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass


# Whether a JSON document began on stdout (``print_document``): a second Ctrl-C then adds none.
document_started: ContextVar[bool] = ContextVar("document_started", default=False)
# Set by a command that prints JSON: its errors are JSON documents on stdout too.
json_errors: ContextVar[bool] = ContextVar("json_errors", default=False)
# Set by a command given a manifest (``record_command``): (manifest, --state or None).
command_args: ContextVar[tuple[str, str | None] | None] = ContextVar("command_args", default=None)

_COMMAND = re.compile(r"`(specrunner [^`]*)`")
_PLACEHOLDER = re.compile(r"\bMANIFEST\b")
_NO_STATE_OPTION = {"validate", "init", "schema", "preview", "emulator", "report"}
_NO_VAR_OPTION = {"init", "schema", "emulator"}


def record_command(manifest: str, state: str | None) -> None:
    """Record the manifest and the ``--state`` this command acts on (as given; applying a saved plan,
    the plan's), for the commands it prints to paste: its errors' hints (:func:`pasteable`) and what
    it prints on stdout (``given_options(state=True)``)."""
    from specrunner.validate.variables import give

    if state is not None and state.startswith("oss:/") and not state.startswith("oss://"):
        state = "oss://" + state[len("oss:/") :]  # a URL that went through Path
    command_args.set((manifest, state))
    give(state=state)


def command_line(verb: str, manifest: object, *extra: str) -> str:
    """``specrunner VERB MANIFEST EXTRA...`` with the ``--state`` and the variables' values this
    command acts on (``record_command``, ``given_options``), quoted to work when pasted."""
    return " ".join(["specrunner", verb, shellwords.path(manifest), *map(shellwords.quote, extra)]) + (
        given_options(state=True)
    )


def pasteable(hint: str) -> str:
    """``hint`` with the ``MANIFEST`` of each `specrunner ...` command in it replaced by the manifest
    this command was given (and its ``--state``, for a command that takes one), so the command works
    when pasted. Layers below the CLI (the state's errors) do not know the manifest; this does."""
    given = command_args.get()
    if given is None or given[0].endswith(".json"):  # no manifest, or a saved plan given instead
        return hint
    manifest, state = given

    def fill(m: re.Match[str]) -> str:
        cmd = _PLACEHOLDER.sub(lambda _: shellwords.path(manifest), m.group(1))
        try:
            words = shellwords.split(cmd)
        except ValueError:  # not a command a shell reads
            return m.group(0)
        if os.path.normpath(manifest) not in {os.path.normpath(w) for w in words[2:] if w}:
            return m.group(0)  # another manifest's command (or none): left as it is
        verb = words[2] if len(words) > 2 and words[1] == "state" else words[1]
        more = ""
        if state is not None and "--state" not in words and verb not in _NO_STATE_OPTION:
            more += f" --state {shellwords.quote(state)}"
        if not {"--var", "--var-file"} & set(words) and verb not in _NO_VAR_OPTION:
            more += given_options()
        # Options after `--` would be read as arguments: they go before it.
        head, sep, tail = cmd.partition(" -- ") if "--" in words else (cmd, "", "")
        return f"`{head}{more}{sep}{tail}`"

    return _COMMAND.sub(fill, hint)


def report(e: SpecrunnerError) -> int:
    """Print ``e`` the way the user asked for output; return its exit code."""
    if isinstance(e, ManifestError) and e.diagnostics:
        missing = [d for d in e.diagnostics if d.path == "$" and d.message == "file not found"]
        if missing and len(e.diagnostics) == 1 and not json_errors.get():
            name = missing[0].file
            echo(f"error: {name}: file not found", err=True)
            echo(
                f"hint: check the path; `specrunner init {shellwords.path(name)}` writes a starter manifest",
                err=True,
            )
            return e.exit_code
        if json_errors.get():
            print_document(validate_json(validate_document(e.diagnostics, valid=False)))
        else:
            for d in e.diagnostics:
                echo(d.render(), err=True)
            n = sum(1 for d in e.diagnostics if d.severity == "error")
            echo(f"error: {n} problem{'s' if n != 1 else ''} found", err=True)
        return e.exit_code
    hint = pasteable(e.hint) if e.hint else None
    if json_errors.get():
        code = getattr(e, "code", None)
        rid = getattr(e, "request_id", None)
        doc = error_document(
            e.message,
            e.exit_code,
            hint=hint,
            code=code if isinstance(code, str) else None,
            request_id=rid if isinstance(rid, str) else None,
        )
        print_document(dumps(doc))
        return e.exit_code
    echo(f"error: {e.message}", err=True)
    if hint:
        echo(f"hint: {hint}", err=True)
    return e.exit_code


def report_usage(message: str, hint: str | None) -> int:
    """A usage error (unknown option, bad value) under ``--format json``: the error document."""
    print_document(dumps(error_document(message, EXIT_ERROR, hint=hint)))
    return EXIT_ERROR


def bug_report(exc: BaseException) -> Path | None:
    """Write the traceback of an unexpected error to a file; return it (None if nothing could be written)."""
    import tempfile
    import traceback
    from datetime import UTC, datetime

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


def handle(exc: BaseException) -> int:
    """Map one exception (not click's own) to its exit code, printing what the user needs."""
    if isinstance(exc, SpecrunnerError):
        return report(exc)
    if isinstance(exc, KeyboardInterrupt):
        if json_errors.get():
            print_document(dumps(error_document("interrupted", EXIT_INTERRUPTED)))
        else:
            echo("\nInterrupted.", err=True)
        return EXIT_INTERRUPTED
    path = bug_report(exc)
    where = f"the full traceback is in {path}" if path else "the traceback could not be written"
    message = f"specrunner hit a bug ({type(exc).__name__}); {where}. Please report it with that file."
    if json_errors.get():
        print_document(dumps(error_document(message, EXIT_BUG, traceback_file=str(path) if path else None)))
    else:
        echo(f"error: {message}", err=True)
    return EXIT_BUG
