"""Example manifests: every valid one validates (schema + models); every invalid one reports exactly
its golden list of problems (``<name>.expected``: the CLI's stderr), with file:line:col and a JSON path.

Regenerate a golden file after a deliberate message change with:
    cd tests/examples/invalid && specrunner validate NAME.yaml 2> NAME.expected
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from specrunner.cli.main import cli
from specrunner.validate.manifest import check_manifest, load_manifest
from specrunner.validate.schema import load_schema
from specrunner.validate.yamlload import load
from tests.conftest import REPO, TESTS

HERE = TESTS / "examples"
ROOT = REPO
VALID = sorted((HERE / "valid").glob("*.yaml")) + sorted((ROOT / "specs").glob("*.yaml"))
INVALID = sorted((HERE / "invalid").glob("*.yaml"))
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<path>\$\S*): (?P<msg>.+)$")


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_examples_validate_against_schema_and_models(path: Path) -> None:
    data, _ = load(path.read_text())
    jsonschema.Draft202012Validator(load_schema()).validate(data)
    model, diags = check_manifest(path)
    assert model is not None and not [d for d in diags if d.severity == "error"]
    assert load_manifest(path).inputs
    assert path.read_text().startswith("# yaml-language-server: $schema="), "editors need the schema line"


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_examples_report_their_golden_problems(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(path.parent)
    result = CliRunner().invoke(cli, ["validate", path.name])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    expected = path.with_suffix(".expected").read_text()
    assert result.stderr == expected
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("error: ") and "problem" in lines[-1]
    for line in lines[:-1]:
        m = LINE.match(line)
        assert m, line
        assert m["file"] == path.name and int(m["line"]) >= 1 and int(m["col"]) >= 1
    assert lines[:-1] == sorted(lines[:-1], key=lambda s: (int(s.split(":")[1]), int(s.split(":")[2])))


def test_five_plus_mistakes_all_reported_in_one_run() -> None:
    result = CliRunner().invoke(
        cli, ["validate", str(HERE / "invalid" / "five-plus-mistakes.yaml"), "--format", "json"]
    )
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["valid"] is False
    paths = {d["path"] for d in doc["diagnostics"]}
    assert {
        "$.target.rooot",
        "$.rules[0].widht",
        "$.rules[1].width",
        "$.rules[1].frame_type",
        "$.rules[2].id",
        "$.inputs[1]",
    } <= paths
    assert len(doc["diagnostics"]) >= 10


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make,needle",
    [
        (lambda d: d, "is a directory"),
        (lambda d: _write(d / "bin.yaml", b"\x00\x01\x02binary"), "NUL bytes"),
        (lambda d: _write(d / "latin.yaml", b"version: 1\nname: caf\xe9\n"), "UTF-8"),
        (lambda d: d / "nope.yaml", "file not found"),
    ],
)
def test_unreadable_files_get_one_clear_line(tmp_path: Path, make, needle: str) -> None:
    target = make(tmp_path)
    result = CliRunner().invoke(cli, ["validate", str(target)])
    assert result.exit_code == 1
    assert needle in result.stderr and "Traceback" not in result.output
    assert len([ln for ln in result.stderr.splitlines() if not ln.startswith("error: ")]) == 1
    assert os.path.basename(str(target)) in result.stderr


def test_schema_command_prints_the_published_schema() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["$id"].endswith("manifest.v1.json") and doc["$schema"].endswith("2020-12/schema")
    assert doc == json.loads((ROOT / "schemas" / "manifest.v1.json").read_text())


def test_schema_and_models_do_not_drift() -> None:
    """Every rule key in the schema is consumed by the model builder, and vice versa."""
    from specrunner.validate import build

    schema = load_schema()
    rule_keys = set(schema["properties"]["rules"]["items"]["properties"])
    src = Path(build.__file__).read_text()
    for key in rule_keys:
        assert f'"{key}"' in src, f"schema key {key} is not read by build.build_manifest"
