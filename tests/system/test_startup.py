"""Start-up stays cheap (issue 14): the CLI module, ``--version`` and shell completion load no heavy
dependency. Checked in fresh interpreters through ``sys.modules`` (never by timing), so a top-level
import that drags one in fails here at once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, probe


def test_importing_the_cli_loads_no_heavy_dependency() -> None:
    out = probe("import specrunner.cli.main")
    assert out["heavy"] == [], out["heavy"]
    assert (
        "specrunner.ops.context" not in out["specrunner"]
        and "specrunner.validate.manifest" not in out["specrunner"]
    )


def test_version_loads_no_heavy_dependency() -> None:
    out = probe("from specrunner.cli.main import main; main()", "--version")
    assert out["code"] == 0 and "specrunner " in str(out["stdout"])
    assert out["heavy"] == [], out["heavy"]


@pytest.mark.parametrize("words", ["specrunner pl", "specrunner state "])
def test_shell_completion_loads_no_heavy_dependency(words: str) -> None:
    """Completion parses the command line; typer (0.2x) would build a pydantic adapter for every unset
    parameter (cli.coercion defers that to a value that needs it); nothing of the commands is loaded."""
    env = {
        "_SPECRUNNER_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    out = probe("from specrunner.cli.main import main; main()", env=env)
    assert out["code"] == 0
    assert "plan" in str(out["stdout"]) or "list" in str(out["stdout"]), out["stdout"]
    assert out["heavy"] == [], out["heavy"]
    assert "specrunner.ops.context" not in out["specrunner"]  # type: ignore[operator]


def test_the_probe_sees_a_heavy_import() -> None:
    """The check itself can fail: a command that needs the manifest module does load them."""
    out = probe("import specrunner.validate.manifest")
    assert out["heavy"] == ["yaml"], out["heavy"]
    out = probe(  # a document with schema errors: jsonschema finds and words them
        "from specrunner.validate.manifest import check_manifest_document as check;"
        "assert check('examples/invalid/wrong-types.yaml')[0] is None"
    )
    assert "jsonschema" in out["heavy"], out  # type: ignore[operator]
    out = probe("import specrunner.core.model")
    assert out["heavy"] == [], out["heavy"]  # the typed model is dataclasses: no pydantic


def test_the_console_script_answers_version_without_loading_the_cli() -> None:
    out = probe("from specrunner.cli.entry import main; main()", "--version")
    assert out["code"] == 0 and "specrunner " in str(out["stdout"])
    assert out["heavy"] == [] and out["specrunner"] == [
        "specrunner",
        "specrunner.cli",
        "specrunner.cli.entry",
    ], out


def test_the_console_script_runs_the_cli(tmp_path: Path) -> None:
    entry = Path(sys.executable).with_name("specrunner")
    r = subprocess.run(
        [str(entry), "init", str(tmp_path / "m.yaml")], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and (tmp_path / "m.yaml").exists(), r.stderr
    r = subprocess.run(
        [str(entry), "validate", str(tmp_path / "m.yaml")], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and "valid" in r.stdout, (r.stdout, r.stderr)


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_validate_and_plan_load_no_executor_sdk_or_engine(command: str, tmp_path: Path) -> None:
    """A plan never loads the executor, tenacity, the SDKs or the engine: only what reading needs."""
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    out = probe(
        "from specrunner.cli.entry import main; main()", command, str(tmp_path / "specs" / "demo.yaml")
    )
    assert out["code"] == 0, out["stdout"]
    assert not set(out["heavy"]) & {
        "av",
        "aliyunsdkcore",
        "aliyunsdkmts",
        "oss2",
        "PIL",
        "tenacity",
        "rich",
    }, out
    assert (
        "specrunner.apply.executor" not in out["specrunner"]
        and "specrunner.backends" not in out["specrunner"]
    )


def test_deferred_coercion_still_coerces_and_refuses_like_typer(tmp_path: Path) -> None:
    """cli.coercion builds typer's coercion only for a set value: values are still converted and a bad
    one is still refused with typer's message and exit 1 (usage error)."""
    from typer.testing import CliRunner

    from specrunner.cli.main import cli

    runner = CliRunner()
    r = runner.invoke(cli, ["apply", str(tmp_path / "m.yaml"), "--parallelism", "abc"])
    assert r.exit_code == 1 and "Invalid value for '--parallelism'" in r.output, r.output
    assert "valid integer" in r.output
    r = runner.invoke(cli, ["plan", str(tmp_path / "m.yaml"), "--format", "xml"])
    assert r.exit_code == 1 and "'xml' is not one of 'text', 'json', 'markdown'" in r.output, r.output
    assert runner.invoke(cli, ["init", str(tmp_path / "m.yaml")]).exit_code == 0
    r = runner.invoke(cli, ["validate", str(tmp_path / "m.yaml"), "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["valid"] is True, r.output


def test_plan_loads_only_yaml(tmp_path: Path) -> None:
    """A plan of a valid manifest loads no heavy package but YAML: the typed model is dataclasses, a
    valid document is accepted without jsonschema (validate.fastschema), and the plain
    ``plan MANIFEST`` runs without typer (cli.fast), so no pydantic adapter or plugin scan either."""
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    out = probe(
        "from specrunner.cli.entry import main; main()", "plan", str(tmp_path / "specs" / "demo.yaml")
    )
    assert out["code"] == 0, out["stdout"]
    assert "specrunner.core.model" in out["specrunner"]  # type: ignore[operator]
    assert out["heavy"] == ["yaml"], out["heavy"]
    for name in ("typer", "typer._adapters", "pydantic.plugin._loader", "importlib.metadata"):
        assert name not in out["modules"], name  # type: ignore[operator]


def test_validate_loads_no_pydantic_nor_jsonschema(tmp_path: Path) -> None:
    """validate checks the document and counts from it: the typed model is for plan and
    later stages; a valid document is accepted without jsonschema (validate.fastschema), so a
    pre-commit hook of 20 valid manifests pays only YAML."""
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    demo = str(tmp_path / "specs" / "demo.yaml")
    for args in (["validate", demo], ["validate", demo, demo, "--format", "json"]):
        out = probe("from specrunner.cli.entry import main; main()", *args)
        assert out["code"] == 0, out["stdout"]
        assert "valid (2 inputs, 3 rules, 5 jobs)" in str(out["stdout"]) or '"valid": true' in str(
            out["stdout"]
        )
        assert out["heavy"] == ["yaml"], out["heavy"]
        assert "specrunner.core.model" not in out["specrunner"]  # type: ignore[operator]
        # nor the state package: validating a manifest never reads a state
        assert not [m for m in out["specrunner"] if m.startswith("specrunner.statefile")]  # type: ignore[union-attr]


def test_the_cli_commands_annotations_are_objects() -> None:
    """typer reads every command's annotations at each start (completion too): as strings (``from
    __future__ import annotations``) each one is compiled and evaluated again. The commands defined in
    specrunner.cli keep them as objects."""
    import typer

    from specrunner.cli.main import cli

    def callbacks(app: typer.Typer) -> list[Any]:
        out = [c.callback for c in app.registered_commands]
        for g in app.registered_groups:
            assert g.typer_instance is not None
            out += callbacks(g.typer_instance)
        return out

    mine = [f for f in callbacks(cli) if f is not None and f.__module__.startswith("specrunner.cli.")]
    assert len(mine) >= 17
    strings = {
        f"{f.__module__}.{f.__name__}": k
        for f in mine
        for k, v in f.__annotations__.items()
        if isinstance(v, str)
    }
    assert strings == {}, strings
