"""Plans at scale: changes that say the same thing grouped per rule, a warning when targeting leaves
changes out, colour on a terminal only, and every line of plan / show / outputs within 80 columns."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HEADER, REPO, Workspace
from tests.helpers import put_outputs

N = 50


def manifest(width: int) -> str:
    return HEADER + (
        'inputs:\n  - {prefix: videos/, match: "*.mp4"}\n'
        "rules:\n"
        f'  - {{id: poster, time: 1s, width: {width}, output: "posters/{{FileName}}.jpg"}}\n'
        '  - {id: cover, time: 0, width: 160, output: "covers/{FileName}.jpg"}\n'
    )


@pytest.fixture(scope="module")
def fifty(tmp_path_factory: pytest.TempPathFactory, video_4s: Path) -> Path:
    """50 inputs x 2 rules applied with width 320, then the manifest changed to width 480."""
    ws = Workspace(tmp_path_factory.mktemp("fifty"))
    for i in range(1, N + 1):
        ws.add_video(video_4s, f"videos/clip{i:02d}.mp4")
    ws.write(manifest(320))
    ws.cli("apply", ws.manifest, "-q", code=0)
    ws.write(manifest(480))
    return ws.dir


@pytest.fixture
def ws(fifty: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(fifty, tmp_path, dirs_exist_ok=True)
    return Workspace(tmp_path)


def keys(rule: str, n: int = N) -> list[str]:
    return [f"videos/clip{i:02d}.mp4::{rule}" for i in range(1, n + 1)]


def test_fifty_identical_width_changes_read_as_one_group(ws: Workspace) -> None:
    out = ws.cli("plan", ws.manifest, code=0).stdout
    lines = out.splitlines()
    assert "Plan: 0 to create, 50 to replace, 0 to retry, 0 to resume, 0 to forget, 50 unchanged." in lines
    at = lines.index("-/+ replace (50):")
    assert lines[at + 1 :] == [
        "  -/+ poster: 50 jobs  sync   changed: width",
        "        width: 320 -> 480",
        *(f"{'        jobs: ' if i == 0 else ' ' * 14}{k}" for i, k in enumerate(keys("poster", 5))),
        "              ... and 45 more (-v lists all)",
    ]
    assert len(lines) <= 13  # was 104: a block of two lines per job
    # Every line fits 80 columns but the summary, kept whole on one line for scripts that grep it.
    assert all(len(line) <= 80 for line in lines if not line.startswith("Plan: "))

    every = ws.cli("plan", ws.manifest, "-v", code=0).stdout
    listed = [line.strip().removeprefix("jobs: ") for line in every.splitlines() if "::poster" in line]
    assert listed == keys("poster"), every
    assert "more (-v lists all)" not in every and "videos/clip50.mp4::cover" in every  # unchanged too

    doc = json.loads(ws.cli("plan", ws.manifest, "--format", "json", code=0).stdout)
    assert [c["key"] for c in doc["changes"] if c["action"] == "replace"] == keys("poster")  # as before
    assert doc["groups"] == [
        {
            "action": "replace",
            "rule": "poster",
            "mode": "sync",
            "reason": "width: 320 -> 480",
            "count": 50,
            "keys": keys("poster"),
        }
    ]
    assert doc["left_out"] == 0


def test_a_targeted_plan_warns_how_many_changes_it_leaves_out(ws: Workspace) -> None:
    r = ws.cli("plan", ws.manifest, "--target", "videos/clip0*", code=0)
    said = " ".join(r.stdout.split())
    assert "Plan: 0 to create, 9 to replace" in said
    assert (
        "Warning: targeting is in effect (--target/--exclude): 41 changes of the manifest are left out"
        in said
    )
    doc = json.loads(ws.cli("plan", ws.manifest, "--exclude", "videos/clip5*", "--format", "json").stdout)
    assert doc["left_out"] == 1 and doc["summary"]["replace"] == 49
    md = ws.cli("plan", ws.manifest, "--target", "videos/clip01*", "--format", "markdown", code=0).stdout
    assert "49 changes of the manifest are left out" in md
    # apply shows it too, before it runs; a plan of every change has no such warning
    r = ws.cli("apply", ws.manifest, "--target", "videos/clip1*", code=0)
    assert "40 changes of the manifest are left out" in " ".join(r.stdout.split())
    assert "targeting" not in ws.cli("plan", ws.manifest, code=0).stdout


def test_show_and_outputs_fit_80_columns(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ws.dir)  # the manifest as people type it: hints name it so
    for args in (("show", "m.yaml"), ("outputs", "m.yaml"), ("plan", "m.yaml")):
        out = ws.cli(*args, code=0).stdout
        assert max(len(line) for line in out.splitlines() if not line.startswith("Plan: ")) <= 80, out
    wide = ws.cli("show", ws.manifest, "-v", code=0).stdout
    assert max(len(line) for line in wide.splitlines()) > 80  # -v: the whole table, nothing shortened


def _on_a_terminal(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> str:
    """Run the CLI with its stdout on a pseudo-terminal; everything it printed."""
    main, sub = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "specrunner", *args],
        stdout=sub,
        stderr=subprocess.DEVNULL,
        cwd=ws.dir,
        env={**os.environ, "TERM": "xterm", **(env or {})},
    )
    os.close(sub)
    chunks = []
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(main)
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_only(ws: Workspace) -> None:
    coloured = _on_a_terminal(ws, "plan", "m.yaml")
    assert "\x1b[33m-/+ replace (50):\x1b[0m" in coloured  # replace: yellow
    assert "  \x1b[33m-/+\x1b[0m poster: 50 jobs" in coloured
    assert "\x1b[" not in _on_a_terminal(ws, "plan", "m.yaml", env={"NO_COLOR": "1"})
    assert "\x1b[" not in _on_a_terminal(ws, "plan", "m.yaml", "--no-color")
    piped = subprocess.run(
        [sys.executable, "-m", "specrunner", "plan", "m.yaml"], cwd=ws.dir, capture_output=True, text=True
    )
    assert piped.returncode == 0 and "\x1b[" not in piped.stdout and "poster: 50 jobs" in piped.stdout


README_BEFORE = (
    HEADER
    + """\
inputs: [videos/intro.mp4, videos/old.mp4]
rules:
  - {id: poster, time: 1s, width: 640, output: "posters/{FileName}.jpg"}
  - {id: thumbs, time: 0, num: 5, interval: 1, width: 320, output: "thumbs/{FileName}/{Count}.jpg"}
"""
)
README_AFTER = (
    HEADER
    + """\
inputs: [videos/intro.mp4, videos/old.mp4, {id: launch, object: "videos/launch day.mp4"}]
rules:
  - {id: poster, time: 2s, width: 320, output: "covers/{ObjectPrefix}{FileName}.jpg",
     inputs: [videos/intro.mp4, launch]}
  - {id: thumbs, time: 0, num: 5, interval: 1, width: 320, output: "thumbs/{FileName}/{Count}.jpg"}
"""
)


def test_the_readme_plan_example_is_the_real_output(tmp_path: Path, video_4s: Path) -> None:

    ws = Workspace(tmp_path)
    for name in ("intro", "old", "launch day"):
        ws.add_video(video_4s, f"videos/{name}.mp4")
    ws.write(README_BEFORE)
    ws.cli("apply", ws.manifest, "-q", code=0)
    ws.write(README_AFTER)
    out = ws.cli("plan", ws.manifest, code=0).stdout
    readme = (REPO / "README.md").read_text()
    example = readme.split("A plan looks like this:\n\n```\n", 1)[1].split("```", 1)[0]
    assert out == example


def test_a_lock_file_written_before_plans_as_a_no_op_and_a_change_groups_over_it(tmp_path: Path) -> None:
    """``tests/fixtures/main-1b011f2``: a manifest and the lock file its apply wrote at commit 1b011f2
    (before grouped plans). The unchanged manifest plans as a no-op; a width change reads as one group."""
    shutil.copytree(REPO / "tests" / "fixtures" / "main-1b011f2", tmp_path, dirs_exist_ok=True)
    ws = Workspace(tmp_path)
    before = ws.state.read_bytes()
    put_outputs(ws.state, ws.oss)  # the buckets hold what it names
    out = ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0).stdout
    assert "No changes. The state matches the manifest." in out
    ws.write(ws.manifest.read_text().replace("width: 320", "width: 480"))
    out = ws.cli("plan", ws.manifest, "--detailed-exitcode", code=2).stdout
    assert "  -/+ poster: 4 jobs  sync   changed: width\n        width: 320 -> 480\n" in out
    assert ws.state.read_bytes() == before


def test_at_the_reader_s_width_the_summary_lines_fit_too(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the width known (a terminal, or COLUMNS), the Plan: and Apply complete: lines break after
    a comma to fit it, continuations under the first count; piped without COLUMNS they stay one line
    each, so `grep '^Plan:'` still reads every count."""
    monkeypatch.chdir(ws.dir)
    whole = "Plan: 0 to create, 50 to replace, 0 to retry, 0 to resume, 0 to forget, 50 unchanged."
    assert whole in ws.cli("plan", "m.yaml", code=0).stdout.splitlines()
    monkeypatch.setenv("COLUMNS", "80")
    plan = ws.cli("plan", "m.yaml", code=0).stdout.splitlines()
    applied = ws.cli("apply", "m.yaml", code=0).stdout.splitlines()
    for lines in (plan, applied):
        assert max(len(line) for line in lines) <= 80, lines
        head = next(i for i, line in enumerate(lines) if line.startswith("Plan: "))
        assert " ".join(lines[head : head + 2]).split() == whole.split(), lines
    done = next(i for i, line in enumerate(applied) if line.startswith("Apply complete: "))
    assert len(applied[done]) > 60 and applied[done + 1].startswith("      "), applied
    assert applied[done + 1].endswith(" forgotten."), applied
