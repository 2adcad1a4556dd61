"""The commands scripts, hooks and CI run most, run without loading the CLI framework.

``specrunner plan MANIFEST`` (one manifest path, no option but ``--refresh=false`` / ``--no-refresh``)
is answered here: the very function the
typer command calls (``cli.plancmd.run_plan``), its errors mapped by the same handler
(``cli.errors.handle``), so output and exit codes are the same byte for byte (the tests run both
ways). Anything else (an option, ``--help``, a second argument, shell completion) returns None and
goes to the typer application.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from pathlib import Path


def command(argv: list[str]) -> Callable[[], int] | None:
    """What runs ``argv`` here, or None when the CLI framework must parse it."""
    if "_SPECRUNNER_COMPLETE" in os.environ:  # shell completion is the framework's
        return None
    flags = argv[2:]
    refresh = not flags or flags in (["--refresh=false"], ["--no-refresh"])
    if len(argv) in (2, 3) and argv[0] == "plan" and argv[1] and not argv[1].startswith("-") and refresh:
        manifest = Path(argv[1])

        def plan() -> int:
            from specrunner.cli.errors import record_command
            from specrunner.cli.plancmd import run_plan
            from specrunner.cli.planfile import refuse

            record_command(str(manifest), None)
            refuse("plan", manifest)
            return run_plan(manifest, refresh=not flags)

        return plan
    return None


def run(argv: list[str]) -> int | None:
    """The exit code of ``argv`` run here, or None (nothing done) when it is not one of these commands."""
    fn = command(argv)
    if fn is None:
        return None
    # A short process that builds mostly acyclic data: the cyclic collector would only rescan, again
    # and again, the modules and objects it loads (load_context pauses it for its big structures too).
    gc.disable()
    from specrunner.cli.errors import handle

    try:
        return fn()
    except BaseException as e:  # the same mapping as the typer application's root
        return handle(e)
