"""Real processes: two applies at once, SIGTERM / SIGINT mid-run, SIGKILL mid-run (local engine)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from tests.conftest import HEADER, Workspace
from tests.helpers import engine_jobs, spawn_cli


def many_jobs(ws: Workspace, video: Path, n_inputs: int = 12, submit_qps: float | None = None) -> None:
    for i in range(n_inputs):
        ws.add_video(video, f"v/{i:02d}.mp4")
    inputs = "\n".join(f"  - v/{i:02d}.mp4" for i in range(n_inputs))
    rules = "\n".join(
        f'  - {{id: r{j}, time: {j * 300}ms, frame_type: normal, output: "r{j}/{{FileName}}.jpg"}}'
        for j in range(8)
    )
    header = HEADER
    if submit_qps is not None:  # paced: a run lasts long enough to be interrupted on any machine
        header = HEADER.replace("root: ./oss}", f"root: ./oss, qps: {{submit: {submit_qps:g}}}}}", 1)
    ws.write(header + f"inputs:\n{inputs}\nrules:\n{rules}\n")


def wait_for(path: Path, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.01)


def test_two_applies_started_together_exactly_one_runs(ws: Workspace, video_10s: Path) -> None:
    many_jobs(ws, video_10s)
    a = spawn_cli(ws, "apply", "m.yaml", "--parallelism", "1")
    b = spawn_cli(ws, "apply", "m.yaml", "--parallelism", "1")
    outs = [p.communicate(timeout=120) for p in (a, b)]
    codes = sorted((a.returncode, b.returncode))
    assert codes == [0, 1], (codes, outs)
    loser = outs[[a.returncode, b.returncode].index(1)]
    assert "is locked by apply (lock id" in loser[1] and "pid" in loser[1] and "@" in loser[1]
    assert "Traceback" not in loser[1]
    assert len(engine_jobs(ws)) == 96  # 12 inputs x 8 rules, each submitted once


def test_sigterm_stops_submitting_persists_and_exits_130(ws: Workspace, video_10s: Path) -> None:
    many_jobs(ws, video_10s, submit_qps=20)  # 96 Submits take ~5 s: SIGTERM lands mid-run
    p = spawn_cli(ws, "apply", "m.yaml", "--parallelism", "1")
    journal = ws.dir / "m.lock.json.journal"
    wait_for(journal)
    end = time.monotonic() + 20

    def recorded_one() -> bool:
        try:
            return b'"job_id"' in journal.read_bytes()
        except FileNotFoundError:  # replaced or dropped at this instant
            return False

    while not recorded_one():  # the first job is recorded: interrupt now
        assert time.monotonic() < end, "no job was ever recorded"
        time.sleep(0.002)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, (out, err)
    assert "Interrupted (SIGTERM)" in err and "Apply interrupted" in out
    json.loads(ws.state.read_text())  # valid JSON, compacted
    state = {"jobs": ws.jobs()}
    assert not (ws.dir / "m.lock.json.journal").exists() and not (ws.dir / "m.lock.json.lock").exists()
    recorded = {r["job_id"] for r in state["jobs"].values() if r.get("job_id")}
    assert 0 < len(recorded) < 96
    assert recorded == {j["Id"] for j in engine_jobs(ws)}  # every job created is in the state
    p = spawn_cli(ws, "apply", "m.yaml")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert len(engine_jobs(ws)) == 96  # the rerun created only what was missing


def test_sigkill_mid_run_loses_nothing_and_blocks_nothing(ws: Workspace, video_10s: Path) -> None:
    many_jobs(ws, video_10s)
    p = spawn_cli(ws, "apply", "m.yaml", "--parallelism", "2")
    wait_for(ws.dir / "m.lock.json.journal")
    time.sleep(0.5)
    p.kill()
    p.wait()
    assert (ws.dir / "m.lock.json.lock").exists()  # lock info left behind by the dead process
    r = spawn_cli(ws, "plan", "m.yaml")
    out, err = r.communicate(timeout=60)
    assert r.returncode == 0, err
    r = spawn_cli(ws, "apply", "m.yaml")
    out, err = r.communicate(timeout=120)
    assert r.returncode == 0, (out, err)
    assert "cleaned up lock info left by a process that is gone" in err
    state = {"jobs": ws.jobs()}
    ids = [r["job_id"] for r in state["jobs"].values()]
    created = engine_jobs(ws)
    assert len(ids) == 96 and len(set(ids)) == 96
    assert {j["Id"] for j in created} == set(ids)  # no duplicates, nothing lost
