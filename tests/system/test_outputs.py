"""Machine-readable and PR outputs: JSON documents match their published schemas; markdown stays
under GitHub's comment limit; exit codes are the documented ones."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from specrunner.validate.schema import load_schema
from tests.conftest import HEADER, REPO, Workspace

MANIFEST = (
    HEADER
    + """\
inputs: [videos/a.mp4, videos/missing.mp4]
rules:
  - {id: p, time: 1s, output: "p/{FileName}.jpg"}
  - {id: s, time: 0, num: 2, interval: 1, output: "s/{FileName}/{Count}.jpg"}
"""
)


def check(doc: dict, name: str) -> None:
    jsonschema.Draft202012Validator(load_schema(name)).validate(doc)


@pytest.mark.parametrize(
    "name",
    [
        "validate.v1.json",
        "plan.v1.json",
        "apply.v1.json",
        "run-results.v1.json",
        "show.v1.json",
        "state.v1.json",
        "state.v2.json",
        "error.v1.json",
        "prune.v1.json",
    ],
)
def test_output_schemas_are_valid_draft_2020_12(name: str) -> None:
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith(name)


def test_every_json_output_matches_its_schema(ws: Workspace, video_4s: Path) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(MANIFEST)
    check(json.loads(ws.cli("validate", ws.manifest, "--format", "json", code=0).stdout), "validate.v1.json")
    plan = json.loads(ws.cli("plan", ws.manifest, "--format", "json", code=0).stdout)
    check(plan, "plan.v1.json")
    assert plan["summary"]["create"] == 4
    applied = json.loads(ws.cli("apply", ws.manifest, "--format", "json", code=3).stdout)
    check(applied, "apply.v1.json")
    assert applied["counts"]["failed"] == 2 and applied["exit_code"] == 3
    run_file = Path(applied["run_results"])
    assert run_file.parent == ws.dir / ".specrunner" / "runs"
    run = json.loads(run_file.read_text())
    check(run, "run-results.v1.json")
    assert all(r["attempts"] >= 1 for r in run["results"] if r["action"] == "create")
    assert (ws.dir / ".specrunner" / ".gitignore").read_text().strip().endswith("*")
    check(json.loads(ws.cli("show", ws.manifest, "--format", "json", code=0).stdout), "show.v1.json")
    check(json.loads(ws.state.read_text()), "state.v2.json")
    bad = ws.dir / "bad.yaml"
    bad.write_text("version: 2\n")
    check(json.loads(ws.cli("validate", bad, "--format", "json", code=1).stdout), "validate.v1.json")


def test_markdown_plan_for_5000_jobs_stays_under_the_comment_limit(ws: Workspace) -> None:
    inputs = "\n".join(f"  - videos/clip-{i:03d}.mp4" for i in range(50))
    rules = "\n".join(
        f'  - {{id: r{j:03d}, time: {j}s, output: "r{j:03d}/{{FileName}}.jpg"}}' for j in range(100)
    )
    ws.write(HEADER + f"inputs:\n{inputs}\nrules:\n{rules}\n")
    # Each rule's 50 jobs are one row (5 keys shown): the whole plan fits.
    out = ws.cli("plan", ws.manifest, "--format", "markdown", code=0).stdout
    assert len(out) <= 65_536 and "more not shown" not in out
    assert out.count("**: 50 jobs<br>") == 100 and "… and 45 more (`specrunner plan" in out
    # Every key listed (-v): cut at the limit, with a pointer to the JSON.
    out = ws.cli("plan", ws.manifest, "--format", "markdown", "-v", code=0).stdout
    assert len(out) <= 65_536
    assert out.startswith("<!-- specrunner:plan:")
    assert "**Plan: 5000 to create, 0 to replace" in out
    assert "| + create | 5000 |" in out
    assert "<details><summary>create (5000)</summary>" in out and out.count("</details>") == 1
    assert "more not shown" in out and "--format json" in out


def test_markdown_apply_lists_failures_first(ws: Workspace, video_4s: Path) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(MANIFEST)
    out = ws.cli("apply", ws.manifest, "--format", "markdown", code=3).stdout
    assert out.startswith("<!-- specrunner:apply:")
    assert "❌" in out
    assert out.index("failed (2)") < out.index("succeeded (2)")
    assert "InvalidParameter.ResourceNotFound" in out


def test_exit_codes_match_the_readme_table(ws: Workspace, video_4s: Path) -> None:
    readme = (REPO / "README.md").read_text()
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 130 |"):
        assert code in readme
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(
        HEADER + "inputs: [videos/a.mp4]\nrules:\n"
        '  - {id: s, time: 0, num: 2, interval: 1, output: "s/{Count}.jpg"}\n'
    )
    ws.cli("plan", ws.manifest, "--detailed-exitcode", code=2)
    r = ws.cli("apply", ws.manifest, "--no-wait")
    assert r.exit_code in (0, 4)  # 4 while the async job is still running
    ws.cli("apply", ws.manifest, code=0)
    ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0)
    ws.write("version: 1\n")
    ws.cli("plan", ws.manifest, code=1)


def test_prefix_discovery_on_the_local_engine(ws: Workspace, video_4s: Path) -> None:
    for key in ("videos/2026/a.mp4", "videos/2026/sub/b.mp4", "videos/2026/notes.txt", "videos/2025/old.mp4"):
        ws.add_video(video_4s, key)
    ws.write(
        HEADER
        + """\
inputs:
  - videos/2025/old.mp4
  - {prefix: videos/2026/, match: "*.mp4"}
rules:
  - {id: p, time: 1s, output: "p/{ObjectPrefix}{FileName}.jpg"}
"""
    )
    r = ws.cli("plan", ws.manifest, code=0)
    assert "Discovered 2 inputs in media-in/videos/2026/ matching *.mp4 (inputs[1])." in r.stdout
    assert "Plan: 3 to create" in r.stdout
    plan = json.loads(ws.cli("plan", ws.manifest, "--format", "json").stdout)
    assert plan["discovery"] == [
        {"index": 1, "bucket": "media-in", "prefix": "videos/2026/", "match": "*.mp4", "found": 2}
    ]
    assert sorted(c["key"] for c in plan["changes"]) == [
        "videos/2025/old.mp4::p",
        "videos/2026/a.mp4::p",
        "videos/2026/sub/b.mp4::p",
    ]
    ws.cli("apply", ws.manifest, code=0)
    assert ws.out("p/videos/2026/sub/b.jpg").exists()
    # A discovered collision is caught before anything runs.
    ws.write(
        HEADER + 'inputs:\n  - {prefix: videos/, match: "*.mp4"}\nrules:\n  - {id: p, output: "flat.jpg"}\n'
    )
    r = ws.cli("plan", ws.manifest, code=1)
    assert "would both write media-out/flat.jpg" in r.stderr
