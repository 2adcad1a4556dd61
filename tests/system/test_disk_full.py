"""A full disk while writing the state: one clear error, the state dumped to an errored file with
instructions, and nothing recorded is lost (a real tmpfs of a few KB)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import HEADER, Workspace


@pytest.fixture
def tiny_fs(tmp_path: Path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12k", f"tiny{uuid.uuid4().hex[:6]}", str(mnt)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_enospc_dumps_the_state_and_says_how_to_restore(ws: Workspace, video_4s: Path, tiny_fs: Path) -> None:
    for i in range(20):
        ws.add_video(video_4s, f"v/{i:02d}.mp4")
    inputs = "\n".join(f"  - v/{i:02d}.mp4" for i in range(20))
    ws.write(
        HEADER + f'inputs:\n{inputs}\nrules:\n  - {{id: p, time: 1s, output: "p/{{FileName}}.jpg"}}\n'
        '  - {id: q, time: 2s, output: "q/{FileName}.jpg"}\n'
    )
    state = tiny_fs / "m.lock.json"
    env = dict(os.environ.items())
    r = subprocess.run(
        [sys.executable, "-m", "specrunner", "apply", "m.yaml", "--state", str(state)],
        cwd=ws.dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    assert "No space left on device" in r.stderr and ".errored" in r.stderr and "hint:" in r.stderr
    errored = next(p for p in (tiny_fs / "m.lock.json.errored", ws.dir / "m.lock.json.errored") if p.exists())
    dumped = json.loads(errored.read_text())
    created = [json.loads(p.read_text())["Id"] for p in (ws.oss / ".mts" / "jobs").glob("*.json")]
    recorded = {rec.get("job_id") for rec in dumped["jobs"].values()}
    assert created and set(created) <= recorded  # every job that was created is in the dump
    # Restore as the hint says, on a disk with room, and finish: nothing is submitted twice.
    good = ws.dir / "m.lock.json"
    good.write_bytes(errored.read_bytes())
    r = subprocess.run(
        [sys.executable, "-m", "specrunner", "apply", "m.yaml"],
        cwd=ws.dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    after = [json.loads(p.read_text())["Id"] for p in (ws.oss / ".mts" / "jobs").glob("*.json")]
    assert len(after) == 40 and set(created) <= set(after)


def test_outputs_on_a_full_disk_fail_the_job_cleanly(ws: Workspace, video_4s: Path, tiny_fs: Path) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    (ws.oss / "media-out").symlink_to(tiny_fs)  # the output bucket is on a 12 KB file system
    big = tiny_fs / "filler"
    big.write_bytes(b"x" * 8192)
    ws.write(
        HEADER + 'inputs: [videos/a.mp4]\nrules:\n  - {id: p, time: 1s, output: "p/{FileName}.jpg"}\n'
        '  - {id: s, time: 0, num: 3, interval: 1, output: "s/{FileName}/{Count}.jpg"}\n'
    )
    r = ws.cli("apply", ws.manifest, code=3)
    assert "Traceback" not in r.output
    jobs = ws.jobs()
    assert {rec["code"] for rec in jobs.values()} == {"InternalError"}
    assert all("No space left on device" in rec["message"] for rec in jobs.values())
