"""Ctrl-C / SIGTERM during ``apply`` and ``retry``: the first one stops new submissions and lets the run
save the state; a second one exits at once (the journal makes that as safe as a crash). Under
``--format json`` that exit still leaves one document on stdout: the error document (exit code 130),
unless the run's own document has begun.

Installed by ``runcmds`` through the executor hook, once the executor exists.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import typer


def install_signal_handlers(executor: Any, manifest: Path | None = None) -> None:
    """Make SIGINT and SIGTERM stop ``executor`` (its ``stop`` event); only the main thread can."""
    if threading.current_thread() is not threading.main_thread():
        return
    from specrunner.cli.errors import command_line, document_started, json_errors, print_document
    from specrunner.core.errors import EXIT_INTERRUPTED
    from specrunner.render.json import dumps, error_document

    plan = command_line("plan", manifest) if manifest is not None else "specrunner plan MANIFEST"

    def stop(signum: int, frame: Any) -> None:
        if executor.stop.is_set():
            # Terraform's "Two interrupts received. Exiting immediately.": the journal and the
            # fsynced intents make this as safe as a crash; the kernel drops the flock.
            sys.stderr.write(
                "\nTwo interrupts received: exiting immediately. The state is recoverable: "
                "the next command replays its journal and looks up any submission in "
                f"flight by its tag (run `{plan}` "
                "to see them).\n"
            )
            if sys.stderr.isatty():
                sys.stderr.write("\x1b[?25h")  # the live bar hid the cursor
            sys.stderr.flush()
            if json_errors.get() and not document_started.get():
                message = (
                    "two interrupts received: exited at once; the state is recoverable: the next "
                    "command replays its journal and looks up any submission in flight by its tag"
                )
                hint = f"`{plan}` shows the state and any submission in flight"
                print_document(dumps(error_document(message, EXIT_INTERRUPTED, hint=hint)))
            sys.stdout.flush()
            os._exit(EXIT_INTERRUPTED)
        executor.stop.set()
        typer.echo(
            f"\nInterrupted ({signal.Signals(signum).name}): no new submissions; letting the calls in "
            "flight end (a few seconds) and saving the state. Interrupt again to exit at once.",
            err=True,
        )

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
