"""A local lock file behind a symbolic link (say to a persistent volume), through real processes.

The link stays a link, the lock file is written through it, and the journal, the flock file, the
backup and the temp files sit beside the target, where the next run that follows the link finds
them: a killed run is resumed and a rerun resubmits nothing. A dangling link or a loop is one clear
error, before anything is submitted.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import HEADER, Workspace, read_jobs
from tests.helpers import engine_jobs, spawn_cli

N_INPUTS, N_RULES = 8, 4
N_JOBS = N_INPUTS * N_RULES


def many_jobs(ws: Workspace, video: Path, rules: int = N_RULES) -> None:
    for i in range(N_INPUTS):
        ws.add_video(video, f"v/{i:02d}.mp4")
    inputs = "\n".join(f"  - v/{i:02d}.mp4" for i in range(N_INPUTS))
    lines = "\n".join(
        f'  - {{id: r{j}, time: {j * 300}ms, frame_type: normal, output: "r{j}/{{FileName}}.jpg"}}'
        for j in range(rules)
    )
    ws.write(HEADER + f"inputs:\n{inputs}\nrules:\n{lines}\n")


def run(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    p = spawn_cli(ws, *args)
    out, err = p.communicate(timeout=180)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def beside(folder: Path, name: str) -> set[str]:
    """The state's companions in ``folder``: every entry whose name starts with ``name`` or ``.name``."""
    return {p.name for p in folder.iterdir() if p.name.startswith((name, "." + name))}


def linked_state(tmp_path: Path) -> tuple[Path, Path]:
    """Where ``m.lock.json`` of the manifest folder will link to: ``volume/state/m.lock.json``."""
    volume = tmp_path / "volume" / "state"
    volume.mkdir(parents=True)
    target = volume / "m.lock.json"
    return target, volume


def test_a_linked_lock_file_is_written_through_and_a_rerun_resubmits_nothing(
    ws: Workspace, video_10s: Path, tmp_path: Path
) -> None:
    many_jobs(ws, video_10s, rules=2)
    target, volume = linked_state(tmp_path)
    # The first run writes the state on the volume; from then on the link is the state.
    r = run(ws, "apply", "m.yaml", "--state", str(target))
    assert r.returncode == 0, r.stderr
    ws.state.symlink_to(target)
    first = target.read_bytes()
    assert len(engine_jobs(ws)) == N_INPUTS * 2

    # A second run through the link: nothing to do, nothing resubmitted, nothing beside the link.
    r = run(ws, "plan", "m.yaml")
    assert r.returncode == 0 and "0 to create" in r.stdout, (r.stdout, r.stderr)
    r = run(ws, "apply", "m.yaml")
    assert r.returncode == 0, r.stderr
    assert "0 created" in r.stdout and "State unchanged: m.lock.json." in r.stdout, r.stdout
    assert len(engine_jobs(ws)) == N_INPUTS * 2
    assert ws.state.is_symlink() and target.read_bytes() == first

    # A change through the link: the link stays, the target is replaced, the backup sits beside it.
    many_jobs(ws, video_10s)
    r = run(ws, "apply", "m.yaml")
    assert r.returncode == 0, r.stderr
    assert "State written to m.lock.json." in r.stdout, r.stdout  # the path the user gave
    assert ws.state.is_symlink() and Path(os.readlink(ws.state)) == target
    assert len(read_jobs(target)) == N_JOBS == len(engine_jobs(ws))
    assert (volume / "m.lock.json.backup").read_bytes() == first
    assert beside(volume, "m.lock.json") == {"m.lock.json", "m.lock.json.backup"}
    assert beside(ws.dir, "m.lock.json") == {"m.lock.json"}  # no journal, lock, backup, temp file
    r = run(ws, "plan", "m.yaml", "--detailed-exitcode")
    assert r.returncode == 0 and "0 to create" in r.stdout, (r.stdout, r.stderr)

    # `state push` through the link writes through too, and keeps its backup beside the target.
    pushed = ws.dir / "pushed.json"
    pushed.write_bytes(target.read_bytes())
    r = run(ws, "state", "push", "m.yaml", str(pushed))
    assert r.returncode == 0, r.stderr
    assert ws.state.is_symlink() and beside(ws.dir, "m.lock.json") == {"m.lock.json"}


def test_a_run_killed_mid_apply_behind_a_link_is_resumed_without_resubmitting(
    ws: Workspace, video_10s: Path, tmp_path: Path
) -> None:
    many_jobs(ws, video_10s, rules=1)
    target, volume = linked_state(tmp_path)
    r = run(ws, "apply", "m.yaml", "--state", str(target))
    assert r.returncode == 0, r.stderr
    ws.state.symlink_to(target)

    many_jobs(ws, video_10s)
    p = spawn_cli(ws, "apply", "m.yaml", "--parallelism", "1")
    journal = volume / "m.lock.json.journal"
    end = time.monotonic() + 60
    while p.poll() is None and time.monotonic() < end:
        if journal.exists() and journal.read_bytes().count(b'"job_id"') >= 2:
            break
        time.sleep(0.01)
    killed = p.poll() is None
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)
    assert killed, "the apply finished before it could be killed"
    # The journal and the flock file of the dead run are beside the target, none beside the link.
    assert ws.state.is_symlink()
    assert {"m.lock.json.journal", "m.lock.json.lock"} <= beside(volume, "m.lock.json")
    assert beside(ws.dir, "m.lock.json") == {"m.lock.json"}
    before = len(engine_jobs(ws))
    assert N_INPUTS < before < N_JOBS

    r = run(ws, "plan", "m.yaml")
    assert r.returncode == 0, r.stderr
    # The journal beside the target was found and replayed: every job the killed run submitted is
    # known (recorded, or an intent to look up by its tag), only the others are to create.
    plan = re.search(r"Plan: (\d+) to create, .* (\d+) to resume, .* (\d+) unchanged", r.stdout)
    assert plan, r.stdout
    create, resume, unchanged = map(int, plan.groups())
    assert unchanged > N_INPUTS and unchanged + resume >= before and create + resume + unchanged == N_JOBS
    r = run(ws, "apply", "m.yaml")
    assert r.returncode == 0, (r.stdout, r.stderr)
    created = engine_jobs(ws)
    ids = [rec["job_id"] for rec in read_jobs(target).values()]
    assert len(created) == N_JOBS and sorted(ids) == sorted(j["Id"] for j in created)  # no duplicate
    assert ws.state.is_symlink() and beside(ws.dir, "m.lock.json") == {"m.lock.json"}
    assert beside(volume, "m.lock.json") == {"m.lock.json", "m.lock.json.backup"}
    r = run(ws, "apply", "m.yaml")
    assert r.returncode == 0 and "0 created" in r.stdout, (r.stdout, r.stderr)
    assert len(engine_jobs(ws)) == N_JOBS


def test_a_dangling_link_is_one_clear_error_and_submits_nothing(
    ws: Workspace, video_10s: Path, tmp_path: Path
) -> None:
    many_jobs(ws, video_10s, rules=1)
    target = tmp_path / "unmounted" / "m.lock.json"
    ws.state.symlink_to(target)
    for args in (["plan", "m.yaml"], ["apply", "m.yaml"], ["show", "m.yaml"], ["state", "pull", "m.yaml"]):
        r = run(ws, *args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr, r.stderr
        assert "m.lock.json: the state file is a symbolic link to" in r.stderr, (args, r.stderr)
        assert "which does not exist" in r.stderr and f"hint: mount or restore {target}" in r.stderr
        assert r.stderr.count("error:") == 1, r.stderr
    assert not (ws.oss / ".mts" / "jobs").exists() or not engine_jobs(ws)
    assert ws.state.is_symlink() and not target.exists() and not target.parent.exists()


def test_a_link_loop_is_one_clear_error(ws: Workspace, video_10s: Path) -> None:
    many_jobs(ws, video_10s, rules=1)
    other = ws.dir / "other.json"
    ws.state.symlink_to(other)
    other.symlink_to(ws.state)
    for args in (["plan", "m.yaml"], ["apply", "m.yaml"]):
        r = run(ws, *args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr, r.stderr
        assert "the state file is a symbolic link that cannot be followed" in r.stderr, r.stderr
        assert "hint: point the link at the state file" in r.stderr
    assert ws.state.is_symlink() and other.is_symlink()
    assert not (ws.oss / ".mts" / "jobs").exists() or not engine_jobs(ws)
