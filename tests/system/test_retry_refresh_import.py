"""retry / refresh / import / state surgery, counted from the emulator's journal (real SDK)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from specrunner.emulator.server import Emulator
from tests.conftest import Workspace

MANIFEST = """\
version: 1
target: {backend: aliyun, region: cn-shanghai}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs: [videos/a.mp4, videos/b.mp4, videos/c.mp4, videos/d.mp4]
rules:
  - {id: p, time: 1s, output: "p/{FileName}.jpg"}
  - {id: s, time: 0, num: 2, interval: 1, output: "s/{FileName}/{Count}.jpg"}
"""


@pytest.fixture
def emu(ws: Workspace, monkeypatch: pytest.MonkeyPatch):
    with Emulator(ws.oss, {"rAK": "r-secret"}) as e:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", e.url)
        monkeypatch.setenv("SPECRUNNER_OSS_ENDPOINT", e.url)  # the plan refreshes against its OSS
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "rAK")
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "r-secret")
        yield e


def submits(emu: Emulator) -> list[dict]:
    return [e for e in emu.requests() if e["action"] == "SubmitSnapshotJob" and e.get("job_id")]


def test_retry_resubmits_only_the_failed_jobs(ws: Workspace, video_4s: Path, emu: Emulator) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.add_video(video_4s, "videos/b.mp4")
    ws.write(MANIFEST)
    r = ws.cli("apply", ws.manifest, "--auto-approve", code=3)
    assert "4 succeeded, 4 failed" in r.stdout
    before = len(submits(emu))
    assert before == 8
    ws.add_video(video_4s, "videos/c.mp4")  # fix one of the two broken inputs
    r = ws.cli("retry", ws.manifest, "--auto-approve", code=3)
    assert "4 retried" in r.stdout and "2 succeeded, 2 failed" in r.stdout
    retried = submits(emu)[before:]
    assert len(retried) == 4  # exactly the failed jobs, counted on the service side
    assert {json.loads(e["params"]["Input"])["Object"] for e in retried} == {
        "videos%2Fc.mp4",
        "videos%2Fd.mp4",
    }
    ws.cli("retry", ws.manifest, "--auto-approve", "--target", "videos/c.mp4", code=0)  # nothing left for c
    assert len(submits(emu)) == 12


def test_refresh_polls_without_submitting(ws: Workspace, video_4s: Path, emu: Emulator) -> None:
    for k in "abcd":
        ws.add_video(video_4s, f"videos/{k}.mp4")
    ws.write(MANIFEST)
    r = ws.cli("apply", ws.manifest, "--auto-approve", "--no-wait")
    assert r.exit_code in (0, 4)
    n = len(submits(emu))
    emu.drain()
    r = ws.cli("refresh", ws.manifest, code=0)
    assert "State" in r.stdout
    assert len(submits(emu)) == n
    jobs = ws.jobs()
    assert all(rec["state"] == "Success" for rec in jobs.values())
    ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0)


def test_import_adopts_a_matching_job_and_refuses_a_different_one(
    ws: Workspace, video_4s: Path, emu: Emulator
) -> None:
    for k in "abcd":
        ws.add_video(video_4s, f"videos/{k}.mp4")
    ws.write(MANIFEST)
    ws.cli("apply", ws.manifest, "--auto-approve", "--target", "p", code=0)
    jobs = ws.jobs()
    job_id = jobs["videos/a.mp4::p"]["job_id"]
    ws.cli("state", "rm", ws.manifest, "videos/a.mp4::p", code=0)
    assert "videos/a.mp4::p" not in ws.jobs()
    r = ws.cli("import", ws.manifest, "videos/a.mp4::p", job_id, code=0)
    assert f"Imported videos/a.mp4::p -> {job_id} (Success)" in r.stdout
    # the record as applied, but for what the next apply verifies again (outputs listed, input seen)
    verified = ("seen", "seen_at", "input_etag")
    assert ws.jobs()["videos/a.mp4::p"] == {
        k: v for k, v in jobs["videos/a.mp4::p"].items() if k not in verified
    }
    r = ws.cli("import", ws.manifest, "videos/b.mp4::p", job_id, code=1)  # a's job is not b's
    assert "does not match" in r.stderr and "Input" in r.stderr
    r = ws.cli("import", ws.manifest, "videos/b.mp4::p", "0" * 32, code=1)
    assert "does not exist" in r.stderr
    r = ws.cli("import", ws.manifest, "videos/b.mp4::q", job_id, code=1)
    assert "no job" in r.stderr and "did you mean" in r.stderr
    serial = json.loads(ws.state.read_text())["serial"]
    r = ws.cli("state", "list", ws.manifest, code=0)
    assert r.stdout.count("\n") == 4
    ws.cli("state", "rm", ws.manifest, "nope::p", code=1)
    assert json.loads(ws.state.read_text())["serial"] == serial


def test_replace_submits_named_jobs_again_and_a_typo_is_refused(
    ws: Workspace, video_4s: Path, emu: Emulator
) -> None:
    for v in ("a", "b", "c", "d"):
        ws.add_video(video_4s, f"videos/{v}.mp4")
    ws.write(MANIFEST)
    ws.cli("apply", ws.manifest, "--auto-approve", code=0)
    before = ws.jobs()
    n = len(submits(emu))
    r = ws.cli("plan", ws.manifest, "--replace", "videos/a.mp4::p", "--detailed-exitcode", code=2)
    assert "1 to replace" in r.stdout and "replaced on request (--replace)" in r.stdout
    r = ws.cli(
        "apply", ws.manifest, "--replace", "videos/a.mp4::p", "--replace", "s", "--auto-approve", code=0
    )
    assert "5 replaced" in r.stdout, r.stdout  # one job key and a whole rule (4 jobs)
    after = ws.jobs()
    assert len(submits(emu)) == n + 5
    changed = {k for k in after if after[k]["job_id"] != before[k]["job_id"]}
    assert changed == {"videos/a.mp4::p", *(f"videos/{v}.mp4::s" for v in "abcd")}
    ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0)  # and then nothing more to do
    r = ws.cli("plan", ws.manifest, "--replace", "videos/a.mp4::q", code=1)
    assert "--replace 'videos/a.mp4::q' matches no job" in r.stderr and "closest" in r.stderr
    assert len(submits(emu)) == n + 5
