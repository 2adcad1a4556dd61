"""Ecosystem files: the pre-commit hook runs `specrunner validate`; the CI doc's workflow parses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO

ROOT = REPO


def test_pre_commit_hook_is_well_formed_and_its_entry_works() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["id"] == "specrunner-validate" and hook["entry"] == "specrunner validate"
    assert re.search(hook["files"], "specs/demo.yaml") and not re.search(hook["files"], "src/x.py")
    # pre-commit runs the entry with the changed files appended.
    r = subprocess.run(
        [sys.executable, "-m", "specrunner", "validate", str(ROOT / "specs" / "demo.yaml")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr


def _run_hook_entry(files: list[str], cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The hook's entry as pre-commit runs it: the entry's words, then every changed file."""
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    program, *words = hook["entry"].split()
    assert program == "specrunner"
    return subprocess.run(
        [sys.executable, "-m", "specrunner", *words, *extra, *files],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_pre_commit_hook_entry_validates_several_files_and_reports_each(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "a.yaml").write_text((ROOT / "specs" / "demo.yaml").read_text())
    (specs / "b.yaml").write_text((ROOT / "specs" / "demo.yaml").read_text())
    (specs / "bad1.yaml").write_text("version: 1\ninputs: 3\n")
    (specs / "bad2.yaml").write_text("version: 7\ninputs: []\nrules: []\n")

    ok = _run_hook_entry(["specs/a.yaml", "specs/b.yaml"], tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "specs/a.yaml: valid (" in ok.stdout and "specs/b.yaml: valid (" in ok.stdout

    files = ["specs/a.yaml", "specs/bad1.yaml", "specs/bad2.yaml", "specs/missing.yaml"]
    r = _run_hook_entry(files, tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "specs/a.yaml: valid (" in r.stdout
    assert "specs/bad1.yaml:1:1: $: missing required key 'rules'" in r.stderr
    assert "specs/bad1.yaml:2:9: $.inputs: expected a list" in r.stderr
    assert "specs/bad2.yaml:1:" in r.stderr and "$.version" in r.stderr
    assert "specs/missing.yaml:1:1: $: file not found" in r.stderr
    assert "error: 3 of 4 manifests invalid" in r.stderr

    j = _run_hook_entry(files, tmp_path, "--format", "json")
    assert j.returncode == 1, j.stderr
    docs = json.loads(j.stdout)
    assert [(d["file"], d["valid"]) for d in docs] == [
        ("specs/a.yaml", True),
        ("specs/bad1.yaml", False),
        ("specs/bad2.yaml", False),
        ("specs/missing.yaml", False),
    ]
    assert all(diag["file"] == d["file"] for d in docs for diag in d["diagnostics"])

    one = _run_hook_entry(["specs/bad1.yaml"], tmp_path, "--format", "json")
    assert one.returncode == 1 and json.loads(one.stdout)["valid"] is False  # one file: one document


def test_ci_doc_workflows_are_valid_yaml_and_use_the_documented_commands() -> None:
    text = (ROOT / "docs" / "ci.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    gha = next(b for b in blocks if "jobs" in b)
    gitlab = next(b for b in blocks if "stages" in b)
    state = next(b for b in blocks if "state" in b)["state"]  # CI keeps the state in OSS
    assert state["backend"] == "oss" and {"bucket", "key", "location"} <= set(state)
    steps = [s.get("run", "") for s in gha["jobs"]["plan"]["steps"]]
    assert any("--format markdown --detailed-exitcode" in s for s in steps)
    assert any("specrunner apply" in s.get("run", "") for s in gha["jobs"]["apply"]["steps"])
    assert "specrunner-apply" in gitlab and "specrunner-plan" in gitlab


def test_every_command_has_help_with_an_example_and_version_works() -> None:
    from typer.testing import CliRunner

    from specrunner import __version__
    from specrunner.cli.main import cli

    runner = CliRunner()
    assert runner.invoke(cli, ["--version"]).stdout.strip() == f"specrunner {__version__}"
    commands = [
        "validate",
        "plan",
        "apply",
        "retry",
        "refresh",
        "show",
        "import",
        "force-unlock",
        "init",
        "schema",
        "emulator",
        "preview",
        "report",
        "state list",
        "state rm",
        "state pull",
        "state push",
    ]
    for name in commands:
        r = runner.invoke(cli, [*name.split(), "--help"])
        assert r.exit_code == 0, name
        assert "Example: specrunner" in r.stdout, name
