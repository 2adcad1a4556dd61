"""The one error handler, through real subprocesses: usage errors exit 1, bugs exit 70 with a log file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import HEADER, Workspace

MANIFEST = HEADER + 'inputs: [videos/a.mp4]\nrules:\n  - {id: poster, time: 1s, output: "p/{FileName}.jpg"}\n'

INJECT = """
import sys
import specrunner.ops.planrequest as planrequest

def boom(*args, **kwargs):
    raise RuntimeError("injected: a bug with a secret-looking local")

planrequest.compute_plan = boom
from specrunner.cli.main import main
sys.argv = ["specrunner", *sys.argv[1:]]
main()
"""


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_a_mistyped_flag_exits_1_not_2_even_with_detailed_exitcode(ws: Workspace, video_4s: Path) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(MANIFEST)
    r = run(["-m", "specrunner", "plan", "m.yaml", "--detailed-exitcode", "--taget", "poster"], ws.dir)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "No such option: --taget" in r.stderr
    r = run(["-m", "specrunner", "plan"], ws.dir)  # a missing argument is a usage error too
    assert r.returncode == 1, r.stderr
    r = run(["-m", "specrunner", "apply", "m.yaml", "--parallelism", "0"], ws.dir)  # a bad value
    assert r.returncode == 1, r.stderr


def test_an_unexpected_error_is_one_line_a_log_file_and_exit_70(
    ws: Workspace, video_4s: Path, tmp_path: Path
) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(MANIFEST)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    r = run(["-c", INJECT, "plan", "m.yaml"], ws.dir, {"TMPDIR": str(tmp)})
    assert r.returncode == 70, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr and "injected" not in r.stderr
    m = re.search(r"bug \(RuntimeError\); the full traceback is in (\S+)\. ", lines[0])
    assert m, lines[0]
    log = Path(m.group(1))
    assert log.parent == tmp and log.is_file()
    text = log.read_text()
    assert (
        "Traceback" in text and "RuntimeError: injected" in text and "command: specrunner plan m.yaml" in text
    )


def test_an_error_exits_with_its_own_code_and_hint(ws: Workspace) -> None:
    r = run(["-m", "specrunner", "show", "m.yaml", "--state", "m.lock.json"], ws.dir)
    assert r.returncode == 0
    (ws.dir / "m.lock.json").write_text("{not json")
    r = run(["-m", "specrunner", "show", "m.yaml"], ws.dir)
    assert r.returncode == 1
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr
