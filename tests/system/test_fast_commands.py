"""``specrunner plan MANIFEST`` runs without the CLI framework (``cli.fast``) and says exactly what the
typer command says: the same stdout, stderr and exit code, for plans with and without changes and for
every kind of error. Real subprocesses, real files, the demo's real videos on the local engine."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, probe

VIA_ENTRY = "from specrunner.cli.entry import main; main()"  # the console script: the fast path
VIA_TYPER = "from specrunner.cli.main import main; main()"  # the typer application, always


def run(how: str, cwd: Path, *args: str) -> dict[str, object]:
    return probe(how, *args, cwd=cwd)


def both(cwd: Path, *args: str) -> tuple[int, str, str]:
    fast, framework = run(VIA_ENTRY, cwd, *args), run(VIA_TYPER, cwd, *args)
    assert "typer" not in fast["modules"]  # type: ignore[operator]  # the fast path did run
    said = (fast["code"], fast["stdout"], fast["stderr"])
    assert said == (framework["code"], framework["stdout"], framework["stderr"])
    assert "Traceback" not in str(fast["stderr"])
    return said  # type: ignore[return-value]


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "specs", tmp_path / "specs", ignore=shutil.ignore_patterns("*.lock.json*"))
    return tmp_path / "specs"


def test_plans_with_and_without_changes(demo: Path) -> None:
    code, out, _ = both(demo, "plan", "demo.yaml")
    assert code == 0 and "5 to create" in out
    subprocess.run(
        [sys.executable, "-m", "specrunner", "apply", "demo.yaml"], cwd=demo, check=True, capture_output=True
    )
    code, out, _ = both(demo, "plan", "demo.yaml")
    assert code == 0 and "No changes." in out
    out = run(VIA_ENTRY, demo, "plan", "demo.yaml")
    assert out["heavy"] == ["yaml"] and "typer" not in out["modules"]  # type: ignore[operator]


def test_errors_are_reported_alike(demo: Path) -> None:
    code, _, err = both(demo, "plan", "missing.yaml")
    assert code == 1 and "file not found" in err
    (demo / "bad.yaml").write_text("version: 1\ninputs: []\nrules: nope\n")
    code, _, err = both(demo, "plan", "bad.yaml")
    assert code == 1 and "bad.yaml:" in err
    (demo / "demo.lock.json").write_text(
        '{"version": 2, "lineage": "x", "serial": 1, "configs": {}, "jobs": 7}'
    )
    code, _, err = both(demo, "plan", "demo.yaml")
    assert code == 1 and "demo.lock.json" in err and "hint:" in err
    code, _, err = both(demo, "plan", ".")
    assert code == 1 and "directory" in err


def test_anything_else_goes_to_the_cli(demo: Path) -> None:
    for args in (["plan", "demo.yaml", "--format", "json"], ["plan", "--help"], ["plan"]):
        assert "typer" in run(VIA_ENTRY, demo, *args)["modules"], args  # type: ignore[operator]
