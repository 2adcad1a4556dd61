"""The emulator restarted mid-project: the next apply proceeds.

A real ``specrunner apply`` (a subprocess) against ``specrunner emulator`` (another subprocess, the real
engine), with the state in the emulator's OSS. The emulator process ends (stopped, or killed) and a new
one starts on the same folder and port: the remote state's appendable journal is still appendable (the
next holder seals it by appending), the engine still knows the jobs submitted before (their ids are
looked up), and an apply of a grown manifest submits only the new jobs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from specrunner.core.errors import EXIT_PENDING
from specrunner.testing.crash import AK, SECRET, STATE_BLOCK, _env, _read_remote, manifest

BUCKET = "team-state"
JOURNAL_1 = "ci/m.lock.json.journal/000000000001"  # the first run's journal (remote state layout)


class Served:
    """``specrunner emulator`` in its own process; ``requests()`` reads its journal file."""

    def __init__(self, root: Path, journal: Path, port: int = 0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        cmd = [sys.executable, "-m", "specrunner", "emulator", "--root", str(root), "--port", str(port)]
        cmd += ["--key", f"{AK}:{SECRET}", "--journal", str(journal)]
        self.journal = journal
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        line = self.proc.stdout.readline()
        assert line.startswith("MTS emulator listening on http://127.0.0.1:"), line + self.proc.stderr.read()
        self.url = line.split()[4]
        self.port = int(self.url.rsplit(":", 1)[1])

    def requests(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.journal.read_text().splitlines()]

    def end(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)
        self.proc.communicate(timeout=20)
        assert self.proc.returncode == (0 if sig == signal.SIGTERM else -sig)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=20)


def run(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "specrunner", "apply", "m.yaml", "-q", "--auto-approve", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # seconds; an apply here takes a few
    )


def write_manifest(folder: Path, n: int) -> None:
    (folder / "m.yaml").write_text(manifest(n).replace("inputs:\n", STATE_BLOCK + "inputs:\n", 1))


def submits(e: Served) -> list[str]:
    """The input object of every SubmitSnapshotJob the emulator answered."""
    return [
        unquote(json.loads(r["params"]["Input"])["Object"])
        for r in e.requests()
        if r["action"] == "SubmitSnapshotJob" and r["status"] == 200
    ]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_the_emulator_restarted_mid_project_the_next_apply_proceeds(
    tmp_path: Path, video_4s: Path, stop: signal.Signals
) -> None:
    root, runner = tmp_path / "oss", tmp_path / "runner"
    (root / BUCKET).mkdir(parents=True)
    (root / "media-in" / "v").mkdir(parents=True)
    runner.mkdir()
    for i in range(3):
        shutil.copyfile(video_4s, root / "media-in" / "v" / f"{i:03d}.mp4")
    write_manifest(runner, 2)

    first = Served(root, tmp_path / "first.jsonl")
    try:
        env = {**_env(first.url), "SPECRUNNER_OSS_ENDPOINT": first.url}
        done = run(runner, env, "--no-wait")
        assert done.returncode == EXIT_PENDING and "2 pending" in done.stdout, done.stdout + done.stderr
        assert len(submits(first)) == 4  # 2 inputs x 2 rules
        doc = _read_remote(env)
        assert doc is not None and len(doc.jobs) == 4
        ids = {k: rec.job_id for k, rec in doc.jobs.items()}
        pending = {k for k, rec in doc.jobs.items() if rec.state != "Success"}
        assert pending == {"v/000.mp4::seq", "v/001.mp4::seq"}  # async, not waited for
        assert any(
            r["action"] == "AppendObject" and r["params"]["key"] == JOURNAL_1 for r in first.requests()
        )
        first.end(stop)
    finally:
        first.kill()
    assert list((root / ".mts" / "jobs").glob("*.json"))  # the engine's job store, on disk

    second = Served(root, tmp_path / "second.jsonl", port=first.port)  # the same URL as before
    try:
        assert second.url == first.url
        write_manifest(runner, 3)  # one more input
        done = run(runner, env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert submits(second) == ["v/002.mp4"] * 2  # only the new jobs
        # the first run's journal, created before the restart, was sealed by appending to it
        sealed = [
            r for r in second.requests() if r["action"] == "AppendObject" and r["params"]["key"] == JOURNAL_1
        ]
        assert sealed and all(r["status"] == 200 for r in sealed), sealed
        assert not [r for r in second.requests() if r["code"] == "ObjectNotAppendable"]
        # the jobs submitted before the restart are still known: looked up, found, finished
        asked = {
            i
            for r in second.requests()
            if r["action"] == "QuerySnapshotJobList" and r["status"] == 200
            for i in r["params"].get("SnapshotJobIds", "").split(",")
        }
        assert {ids[k] for k in pending} <= asked
        doc = _read_remote(env)
        assert doc is not None and len(doc.jobs) == 6
        assert {k: doc.jobs[k].job_id for k in ids} == ids  # the old jobs kept, not resubmitted
        assert all(rec.state == "Success" for rec in doc.jobs.values()), doc.jobs
        second.end(signal.SIGTERM)
    finally:
        second.kill()
