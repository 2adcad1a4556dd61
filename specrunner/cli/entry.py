"""The ``specrunner`` console script: answers ``--version`` before loading anything, runs the plain
commands of ``cli.fast`` without the CLI framework, else runs the CLI.

Invariant: importing this module imports nothing beyond ``sys`` and the package's ``__init__``; the
typer application (``specrunner.cli.main``) is loaded only for a command that needs it.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] in (["--version"],):
        from specrunner import __version__

        sys.stdout.write(f"specrunner {__version__}\n")
        return
    from specrunner.cli.fast import run

    code = run(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from specrunner.cli.main import main as cli_main

    cli_main()
