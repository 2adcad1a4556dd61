"""Ctrl-C / SIGTERM during ``apply`` and ``retry``: the first one stops new submissions and lets the run
save the state; a second one exits at once (the journal makes that as safe as a crash).

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
    from specrunner.cli.errors import command_line

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
