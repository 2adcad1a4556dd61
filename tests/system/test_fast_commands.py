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
from tests.helpers import VIA_ENTRY, both


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
    out = probe(VIA_ENTRY, "plan", "demo.yaml", cwd=demo)
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
        assert "typer" in probe(VIA_ENTRY, *args, cwd=demo)["modules"], args  # type: ignore[operator]
