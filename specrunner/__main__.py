"""``python -m specrunner``: the same entry point as the console script."""

from specrunner.cli.entry import main

main()
