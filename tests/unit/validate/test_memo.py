"""The memo of the JSON Schema pass: a clean result is remembered by content, never a finding; an
unusable cache only costs time. Real files, real subprocesses (what a process imports is the point)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PROBE = """
import json, sys
from specrunner.validate.manifest import check_manifest
model, diags = check_manifest(sys.argv[1])
print(json.dumps({"valid": model is not None, "messages": [d.render() for d in diags],
                  "jsonschema": "jsonschema" in sys.modules}))
"""


def check(path: Path, cache: str | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "SPECRUNNER_CACHE_DIR"}
    if cache is not None:
        env["SPECRUNNER_CACHE_DIR"] = cache
    r = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stderr
    out: dict[str, object] = json.loads(r.stdout)
    return out


def entries(cache: Path) -> list[str]:
    folder = cache / "schema-pass"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def manifest(tmp_path: Path, body: str = "") -> Path:
    text = (REPO / "specs" / "demo.yaml").read_text() + body
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return path


def test_a_valid_manifest_is_walked_once(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = manifest(tmp_path)
    first = check(path, str(cache))
    assert first["valid"] and first["jsonschema"] and len(entries(cache)) == 1
    second = check(path, str(cache))
    assert second == {**first, "jsonschema": False}  # the same findings, without the validator
    path.write_text(path.read_text() + "# a comment\n")  # any change: a new key, walked again
    assert check(path, str(cache))["jsonschema"] and len(entries(cache)) == 2


def test_a_finding_is_never_remembered(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = manifest(tmp_path, "unknown_field: 1\n")
    first = check(path, str(cache))
    assert not first["valid"] and any("unknown_field" in str(m) for m in first["messages"])  # type: ignore[attr-defined]
    assert entries(cache) == []
    assert check(path, str(cache)) == first


def test_the_memo_can_be_turned_off(tmp_path: Path) -> None:
    path = manifest(tmp_path)
    home = Path(os.environ["HOME"])
    for _ in range(2):
        assert check(path, "")["jsonschema"]
    assert not (home / ".cache" / "specrunner").exists()


def test_an_unusable_cache_only_costs_time(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    path = manifest(tmp_path)
    for _ in range(2):
        out = check(path, str(blocker))
        assert out["valid"] and out["jsonschema"]


def test_the_default_cache_is_under_the_users_cache_folder(tmp_path: Path) -> None:
    path = manifest(tmp_path)
    check(path, None)
    assert len(entries(Path(os.environ["HOME"]) / ".cache" / "specrunner")) == 1
