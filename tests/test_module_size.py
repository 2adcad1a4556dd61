"""Every module of the package stays under 500 lines: one room, one job, readable in one sitting."""

from __future__ import annotations

from pathlib import Path

LIMIT = 500
PACKAGE = Path(__file__).resolve().parents[1] / "specrunner"


def test_every_module_is_under_the_limit() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 100  # the package, not an empty folder
    too_long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules
        if (n := len(p.read_text(encoding="utf-8").splitlines())) >= LIMIT
    }
    assert too_long == {}, f"split these modules (limit {LIMIT} lines): {too_long}"
