"""``python -m specrunner.testing.adversary``: the adversary harness's command line (``cli.main``)."""

from __future__ import annotations

import sys

from specrunner.testing.adversary.cli import main

sys.exit(main())
