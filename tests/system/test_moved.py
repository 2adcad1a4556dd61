"""`moved:` entries: a rule renamed in the manifest keeps its jobs. Real processes: `specrunner emulator`
(MTS over HTTP, with its request journal on disk) and `python -m specrunner` against it; the Submits
are counted in the emulator's journal file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.helpers import free_port

MANIFEST = """\
version: 1
target: {backend: aliyun, region: cn-shanghai}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs: [videos/a.mp4, videos/b.mp4]
rules:
  - {id: poster, time: 1s, width: 160, output: "p/{FileName}.jpg"}
"""
RENAMED = MANIFEST.replace("id: poster", "id: cover") + "moved:\n  - {from: poster, to: cover}\n"
KEY = "rAK"
SECRET = "r-secret"


@pytest.fixture
def emulator(ws: Workspace) -> Iterator[dict[str, str]]:
    """`specrunner emulator` as a real process writing its journal to ws.dir/journal.jsonl; the
    environment a CLI process needs to talk to it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "specrunner", "emulator", "--root", str(ws.oss), "--port", str(port)]
        + ["--key", f"{KEY}:{SECRET}", "--journal", str(ws.dir / "journal.jsonl")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "listening on" in line, line
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "ALIYUN_"))}
    env.update(
        SPECRUNNER_MTS_ENDPOINT=f"http://127.0.0.1:{port}",
        SPECRUNNER_OSS_ENDPOINT=f"http://127.0.0.1:{port}",  # the plan refreshes against its OSS
        ALIBABA_CLOUD_ACCESS_KEY_ID=KEY,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=SECRET,
    )
    try:
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def cli(ws: Workspace, env: dict[str, str], *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "specrunner", *args],
        cwd=ws.dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    return r


def submits(ws: Workspace) -> int:
    """SubmitSnapshotJob requests in the emulator's journal file (a line is flushed per request)."""
    deadline = time.monotonic() + 5
    path = ws.dir / "journal.jsonl"
    while not path.exists() and time.monotonic() < deadline:  # pragma: no cover - written at start
        time.sleep(0.05)
    lines = path.read_text().splitlines()
    return sum(1 for line in lines if json.loads(line)["action"] == "SubmitSnapshotJob")


def test_a_rule_renamed_with_a_moved_entry_submits_nothing_and_then_plans_no_changes(
    ws: Workspace, video_4s: Path, emulator: dict[str, str]
) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.add_video(video_4s, "videos/b.mp4")
    ws.write(MANIFEST)
    cli(ws, emulator, "apply", "m.yaml", "--auto-approve")
    assert submits(ws) == 2
    before = {k: v["job_id"] for k, v in ws.jobs().items()}

    ws.write(RENAMED)
    r = cli(ws, emulator, "plan", "m.yaml", "--detailed-exitcode", code=2)
    assert "0 to create" in r.stdout and "2 to move" in r.stdout and "0 to forget" in r.stdout
    assert "videos/a.mp4::cover  sync   moved from videos/a.mp4::poster" in r.stdout
    doc = json.loads(cli(ws, emulator, "plan", "m.yaml", "--format", "json", code=0).stdout)
    assert doc["summary"]["moved"] == 2 and doc["summary"]["create"] == 0
    assert {(c["key"], c["action"], c["moved_from"]) for c in doc["changes"]} == {
        ("videos/a.mp4::cover", "moved", "videos/a.mp4::poster"),
        ("videos/b.mp4::cover", "moved", "videos/b.mp4::poster"),
    }

    r = cli(ws, emulator, "apply", "m.yaml", "--auto-approve")
    assert "2 moved" in r.stdout and "0 created" in r.stdout
    assert submits(ws) == 2  # not one more Submit
    after = {k: v["job_id"] for k, v in ws.jobs().items()}
    assert after == {
        "videos/a.mp4::cover": before["videos/a.mp4::poster"],
        "videos/b.mp4::cover": before["videos/b.mp4::poster"],
    }
    assert {v["rule"] for v in ws.jobs().values()} == {"cover"}
    # The entry stays in the manifest: applied already, it does nothing.
    r = cli(ws, emulator, "plan", "m.yaml", "--detailed-exitcode", code=0)
    assert "No changes." in r.stdout
    cli(ws, emulator, "apply", "m.yaml", "--auto-approve")
    assert submits(ws) == 2


CRASH_AFTER_RENAMES = """
import os, sys
import specrunner.apply.executor as executor

def crash(self, plan):
    os._exit(137)  # the renames are journaled; nothing is committed: a kill -9 at this instant

executor.Executor.run = crash
from specrunner.cli.main import main
sys.argv = ["specrunner", *sys.argv[1:]]
main()
"""


def test_a_crash_after_the_renames_loses_none_and_submits_nothing(ws: Workspace, video_4s: Path) -> None:
    """The moves go through the journal, durable one by one (as `state mv`): killed right after them,
    before the run commits, the next command reads every record under its new key."""
    local = MANIFEST.replace("backend: aliyun, region: cn-shanghai", "backend: local, root: ./oss")
    ws.add_video(video_4s, "videos/a.mp4")
    ws.add_video(video_4s, "videos/b.mp4")
    ws.write(local)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "ALIYUN_"))}
    cli(ws, env, "apply", "m.yaml")
    ids = {k.replace("::poster", "::cover"): v["job_id"] for k, v in ws.jobs().items()}
    ws.write(local.replace("id: poster", "id: cover") + "moved:\n  - {from: poster, to: cover}\n")
    r = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_RENAMES, "apply", "m.yaml"],
        cwd=ws.dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 137, (r.returncode, r.stderr)
    r = cli(ws, env, "plan", "m.yaml", "--detailed-exitcode", code=0)
    assert "No changes." in r.stdout
    r = cli(ws, env, "apply", "m.yaml")
    assert "0 created" in r.stdout
    assert {k: v["job_id"] for k, v in ws.jobs().items()} == ids


def test_a_saved_plan_carries_its_moves_and_a_taken_target_is_refused(ws: Workspace, video_4s: Path) -> None:
    local = MANIFEST.replace("backend: aliyun, region: cn-shanghai", "backend: local, root: ./oss")
    ws.add_video(video_4s, "videos/a.mp4")
    ws.add_video(video_4s, "videos/b.mp4")
    ws.write(local)
    ws.cli("apply", ws.manifest, code=0)
    ids = {k.replace("::poster", "::cover"): v["job_id"] for k, v in ws.jobs().items()}
    ws.write(local.replace("id: poster", "id: cover") + "moved:\n  - {from: poster, to: cover}\n")
    planfile = str(ws.dir / "mv.plan.json")
    ws.cli("plan", ws.manifest, "--out", planfile, code=0)
    assert "2 to move" in ws.cli("show", planfile, code=0).stdout
    r = ws.cli("apply", planfile, code=0)
    assert "2 moved" in r.stdout and "0 created" in r.stdout
    assert {k: v["job_id"] for k, v in ws.jobs().items()} == ids
    # A state that holds both names (the new rule applied before the entry was written) is a
    # conflict, refused with the fix before anything is written.
    both = local + '  - {id: thumb, time: 1s, width: 160, output: "t/{FileName}.jpg"}\n'
    ws.write(both.replace("id: poster", "id: cover"))
    ws.cli("apply", ws.manifest, code=0)
    ws.write(
        local.replace("id: poster", "id: thumb").replace("p/{FileName}", "t/{FileName}")
        + "moved:\n  - {from: cover, to: thumb}\n"
    )
    state = ws.state.read_bytes()
    r = ws.cli("plan", ws.manifest, code=1)
    assert "cannot move videos/a.mp4::cover to videos/a.mp4::thumb: videos/a.mp4::thumb is in the state" in (
        r.output
    )
    assert "specrunner state rm" in r.output and ws.state.read_bytes() == state
