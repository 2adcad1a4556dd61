"""Ecosystem files: the pre-commit hook runs `specrunner validate`; the CI doc's workflow parses."""

from __future__ import annotations

import re
import subprocess
import sys

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
