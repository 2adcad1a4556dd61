"""Interrupted submissions (a process that dies right after the Submit left it), resolved on rerun."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.conftest import HEADER, Workspace
from tests.helpers import engine_jobs

DIE_AFTER_SUBMIT = """
import os, sys
from pathlib import Path
from specrunner.ops.context import load_context
from specrunner.ops.execute import ApplyOptions, apply
from specrunner.ops.planrequest import PlanRequest
from specrunner.backends.local import LocalBackend
m = Path(sys.argv[1])
class Dying(LocalBackend):
    def submit(self, request, user_data, gate=None):
        if gate is not None:
            gate()
        super().submit(request, user_data)
        os._exit(9)   # the job exists on the service; its id never reached the state
apply(load_context(m), PlanRequest(), ApplyOptions(retry_zero_wait=True, parallelism=1),
      backend=Dying(m.parent / "oss"))
"""


def die_after_submit(ws: Workspace) -> None:
    r = subprocess.run(
        [sys.executable, "-c", DIE_AFTER_SUBMIT, str(ws.manifest)], capture_output=True, text=True
    )
    assert r.returncode == 9, r.stderr
    assert len(engine_jobs(ws)) == 1


def manifest(width: int) -> str:
    return (
        HEADER + "inputs: [videos/a.mp4]\nrules:\n"
        f'  - {{id: p, time: 1s, width: {width}, output: "p/{{FileName}}.jpg"}}\n'
    )


def test_unchanged_job_is_adopted_not_resubmitted(ws: Workspace, video_4s: Path) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(manifest(80))
    die_after_submit(ws)
    r = ws.cli("plan", ws.manifest, code=0)
    assert "1 interrupted submission found" in r.stdout and "1 to resume" in r.stdout
    r = ws.cli("apply", ws.manifest, code=0)
    assert "1 interrupted submission found: 1 adopted, 0 resubmitted." in r.stdout
    assert len(engine_jobs(ws)) == 1
    assert ws.jobs()["videos/a.mp4::p"]["job_id"] == engine_jobs(ws)[0]["Id"]


def test_changed_job_gets_a_new_submission_not_the_old_one(ws: Workspace, video_4s: Path) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(manifest(80))
    die_after_submit(ws)
    old = engine_jobs(ws)[0]["Id"]
    ws.write(manifest(120))
    r = ws.cli("plan", ws.manifest, code=0)
    assert "1 to replace" in r.stdout and "interrupted submission, and the job changed" in r.stdout
    ws.cli("apply", ws.manifest, code=0)
    rec = ws.jobs()["videos/a.mp4::p"]
    assert rec["job_id"] != old and rec["request"]["SnapshotConfig"]["Width"] == "120"
    with Image.open(ws.out("p/a.jpg")) as im:
        assert im.width == 120  # what the lock file says is what was made


def test_odd_job_answers_are_transient_not_crashes() -> None:
    import pytest

    from specrunner.backends.base import RemoteJob
    from specrunner.core.errors import TransientBackendError

    # a state the client does not know (the data types page lists "Analyzing") is polled again like a
    # running one: it neither fails the job nor its batch (issue 15, item 6)
    odd = RemoteJob.from_api({"Id": "a" * 32, "State": "Analyzing"})
    assert odd.state == "Snapshoting" and "Analyzing" in odd.message
    with pytest.raises(TransientBackendError, match="no Id or State"):
        RemoteJob.from_api({"State": "Success"})
    job = RemoteJob.from_api({"Id": "a" * 32, "State": "Success", "Count": "-1", "TileCount": "99999999999"})
    assert job.count is None and job.tile_count is None
