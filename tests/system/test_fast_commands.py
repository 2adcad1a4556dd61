"""``specrunner plan MANIFEST`` runs without the CLI framework (``cli.fast``) and says exactly what the
typer command says: the same stdout, stderr and exit code, for plans with and without changes and for
every kind of error. Real subprocesses, real files, the demo's real videos on the local engine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

VIA_ENTRY = "from specrunner.cli.entry import main; main()"  # the console script: the fast path
VIA_TYPER = "from specrunner.cli.main import main; main()"  # the typer application, always
PROBE = """
import json, sys
sys.argv = ["specrunner", *json.loads(sys.argv[1])]
try:
    {run}
except SystemExit as e:
    code = e.code
else:
    code = 0
heavy = {{"typer", "pydantic", "jsonschema", "rich", "yaml"}}
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & heavy)
print("@@" + json.dumps({{"code": code, "typer": "typer" in sys.modules, "loaded": loaded}}), file=sys.stderr)
"""


LOADED: dict[tuple[str, ...], list[str]] = {}  # the heavy modules the last run of these args loaded


def run(how: str, cwd: Path, *args: str) -> tuple[int, str, str, bool]:
    r = subprocess.run(
        [sys.executable, "-c", PROBE.format(run=how), json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    lines = r.stderr.splitlines()
    probe = json.loads(lines[-1][2:])
    LOADED[args] = probe["loaded"]
    return probe["code"], r.stdout, "\n".join(lines[:-1]), probe["typer"]


def both(cwd: Path, *args: str) -> tuple[int, str, str]:
    code, out, err, typer_loaded = run(VIA_ENTRY, cwd, *args)
    assert not typer_loaded  # the fast path did run
    assert (code, out, err) == run(VIA_TYPER, cwd, *args)[:3]
    assert "Traceback" not in err
    return code, out, err


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
    run(VIA_ENTRY, demo, "plan", "demo.yaml")
    assert LOADED[("plan", "demo.yaml")] == ["yaml"]  # the schema pass remembered: no validator, no CLI


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
        assert run(VIA_ENTRY, demo, *args)[3], args  # the typer application ran
