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


def test_terraform_spellings_get_one_error_naming_specrunners_and_exit_1(
    ws: Workspace, video_4s: Path
) -> None:
    """`-var`, `-out`, `-target`, `-replace` with one dash, `destroy` and `output`: what a Terraform user
    types by habit is answered with the equivalent, never "No such option: -a" nor a traceback. Exit 1 as
    every usage error (2 would read as "changes" under --detailed-exitcode)."""
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(MANIFEST)
    cases = {
        (
            "plan",
            "m.yaml",
            "-var",
            "env=prod",
            "--detailed-exitcode",
        ): "specrunner's options take two dashes: `--var env=prod`",
        ("plan", "m.yaml", "-var=env=prod"): "`--var env=prod`",
        ("plan", "m.yaml", "-out", "p.json"): "two dashes: `--out p.json`",
        ("apply", "p.json", "-out", "x"): "`specrunner plan MANIFEST --out FILE` saves a plan",
        ("plan", "m.yaml", "-target", "poster"): "two dashes: `--target poster`",
        ("apply", "m.yaml", "-replace", "poster"): "two dashes: `--replace poster`",
        ("state", "list", "m.yaml", "-var-file", "x.yaml"): "two dashes: `--var-file x.yaml`",
        # the hints name the manifest given, so they paste
        ("destroy", "m.yaml"): "`specrunner prune m.yaml` deletes the outputs of jobs the manifest no longer",
        ("output", "m.yaml"): "`specrunner outputs m.yaml` lists every object",
    }
    for args, expected in cases.items():
        r = run(["-m", "specrunner", *args], ws.dir)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
        assert expected in r.stderr and "Terraform" in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.count("error:") == 1, r.stderr
    assert not (ws.dir / "m.lock.json").exists()
    # Short options keep working: -v (show unchanged) and -p (parallelism).
    r = run(["-m", "specrunner", "apply", "m.yaml", "-p", "2"], ws.dir)
    assert r.returncode == 0, r.stderr
    r = run(["-m", "specrunner", "plan", "m.yaml", "-v"], ws.dir)
    assert r.returncode == 0 and "videos/a.mp4::poster" in r.stdout, r.stdout


def test_every_other_one_dash_word_names_the_fix_not_a_short_option(ws: Workspace, video_4s: Path) -> None:
    """`-lock=false`, `-json`, `-input=false`, a Terraform option specrunner lacks on that command: each
    is one error saying what to do, never "No such option: -l" (click reading `-lock` as `-l -o -c -k`).
    `taint` and `workspace` name their equivalents. Short flags given together still work."""
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(MANIFEST)
    cases = {
        ("apply", "m.yaml", "-lock=false"): "`specrunner force-unlock m.yaml LOCK_ID` removes a stale one",
        ("plan", "m.yaml", "-json"): "`--format json`",
        ("plan", "-input=false", "m.yaml"): "never waits for input",
        ("plan", "m.yaml", "-compact-warnings"): "`specrunner plan` has no option '--compact-warnings'",
        ("plan", "m.yaml", "-refresh=false"): "two dashes: `--refresh=false`",
        ("plan", "m.yaml", "-lock-timeout=5m"): "`specrunner plan` has no option '--lock-timeout'",
        ("taint", "m.yaml"): "--replace KEY",
        ("workspace", "new", "prod"): "--var env=prod",
    }
    for args, expected in cases.items():
        r = run(["-m", "specrunner", *args], ws.dir)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
        assert expected in r.stderr and "No such option" not in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.count("error:") == 1, r.stderr
    assert not (ws.dir / "m.lock.json").exists()
    r = run(["-m", "specrunner", "plan", "m.yaml", "-vv"], ws.dir)
    assert r.returncode == 0 and "videos/a.mp4::poster" in r.stdout, r.stderr
