"""End to end on the embedded local engine, through the real CLI: validate -> plan -> apply -> lock."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from specrunner.testing.video import read_stamp
from tests.conftest import HEADER, Workspace

DEMO = (
    HEADER
    + """\
inputs:
  - videos/a.mp4
  - {id: b, object: "videos/b clip.mp4"}
rules:
  - id: poster
    time: 5s
    width: 320
    output: posters/{FileName}.jpg
  - id: seq
    time: 0
    interval: 1
    num: 5
    width: 320
    frame_type: normal
    output: seq/{FileName}/{Count}.jpg
  - id: board
    time: 0
    interval: 1
    num: 6
    frame_type: normal
    output: board/{FileName}/{Count}.jpg
    tile: {lines: 2, columns: 3, cell_width: 80, padding: 2, margin: 4, color: white, keep_cells: false,
           output: "sprites/{FileName}-{TileCount}.jpg"}
    inputs: ["videos/*"]
"""
)


def setup(ws: Workspace, video: Path) -> None:
    ws.add_video(video, "videos/a.mp4")
    ws.add_video(video, "videos/b clip.mp4")
    ws.write(DEMO)


def test_apply_then_rerun_is_a_byte_identical_noop(ws: Workspace, video_10s: Path) -> None:
    setup(ws, video_10s)
    r = ws.cli("plan", ws.manifest, "--detailed-exitcode", code=2)
    assert "Plan: 5 to create" in r.stdout
    assert "sync" in r.stdout and "async" in r.stdout
    r = ws.cli("apply", ws.manifest, code=0)
    assert "5 succeeded, 0 failed" in r.stdout
    first = ws.state.read_bytes()
    assert first.endswith(b"\n")
    r = ws.cli("apply", ws.manifest, code=0)
    assert "0 created, 5 unchanged" in r.stdout
    assert ws.state.read_bytes() == first
    ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0)
    assert not Path(str(ws.state) + ".journal").exists()
    r = ws.cli("show", ws.manifest, code=0)
    assert "videos/a.mp4::seq" in r.stdout and "Success" in r.stdout


def test_num5_interval1_width320_gives_five_frames_from_the_right_times(
    ws: Workspace, video_10s: Path
) -> None:
    setup(ws, video_10s)
    ws.cli("apply", ws.manifest, "--target", "seq", code=0)
    files = sorted(ws.out("seq/a").iterdir())
    assert [f.name for f in files] == [f"{i:05d}.jpg" for i in range(1, 6)]
    for i, f in enumerate(files):
        with Image.open(f) as im:
            assert im.format == "JPEG"
            assert im.size == (320, 240)  # 160x120 source, width only: aspect kept
            assert read_stamp(im) == i * 25  # 25 fps: second i is frame 25*i
    rec = ws.jobs()["videos/a.mp4::seq"]
    assert rec["count"] == 5 and rec["mode"] == "async" and rec["state"] == "Success"
    assert rec["outputs"] == [f"media-out/seq/a/{i:05d}.jpg" for i in range(1, 6)]


def test_2x3_tile_gives_one_sprite_of_the_right_size(ws: Workspace, video_10s: Path) -> None:
    setup(ws, video_10s)
    ws.cli("apply", ws.manifest, "--target", "board", code=0)
    sprite = ws.out("sprites/a-00001.jpg")
    with Image.open(sprite) as im:
        # cells 80x60 (aspect kept), 3 columns, 2 lines, padding 2, margin 4
        assert im.size == (4 * 2 + 3 * 80 + 2 * 2, 4 * 2 + 2 * 60 + 1 * 2)
        assert im.getpixel((1, 1))[0] > 240  # white margin
    assert not ws.out("sprites/a-00002.jpg").exists()
    assert not ws.out("board/a").exists()  # keep_cells: false
    rec = ws.jobs()["videos/a.mp4::board"]
    assert rec["outputs"] == ["media-out/sprites/a-00001.jpg"]


def test_poster_is_sync_and_a_real_frame(ws: Workspace, video_10s: Path) -> None:
    setup(ws, video_10s)
    ws.cli("apply", ws.manifest, "--target", "poster", code=0)
    with Image.open(ws.out("posters/b clip.jpg")) as im:
        assert im.size == (320, 240)
        assert read_stamp(im) == 125  # intra at 5 s: the keyframe at frame 125
    rec = ws.jobs()["b::poster"]
    assert (
        rec["mode"] == "sync" and rec["job_id"] and rec["request"]["Input"]["Object"] == "videos/b clip.mp4"
    )


def test_changing_one_rule_replaces_only_its_jobs_and_removing_an_input_forgets_only_its_jobs(
    ws: Workspace, video_10s: Path
) -> None:
    setup(ws, video_10s)
    ws.cli("apply", ws.manifest, code=0)
    ws.write(DEMO.replace("time: 5s\n    width: 320", "time: 5s\n    width: 160"))
    r = ws.cli("plan", ws.manifest, "--detailed-exitcode", code=2)
    assert "Plan: 0 to create, 2 to replace, 0 to retry, 0 to resume, 0 to forget, 3 unchanged." in r.stdout
    assert "width: 320 -> 160" in r.stdout
    plan = json.loads(ws.cli("plan", ws.manifest, "--format", "json").stdout)
    replaced = sorted(c["key"] for c in plan["changes"] if c["action"] == "replace")
    assert replaced == ["b::poster", "videos/a.mp4::poster"]
    ws.cli("apply", ws.manifest, code=0)
    # drop input b
    ws.write(
        DEMO.replace('  - {id: b, object: "videos/b clip.mp4"}\n', "").replace(
            "width: 320\n    output: posters", "width: 160\n    output: posters"
        )
    )
    plan = json.loads(ws.cli("plan", ws.manifest, "--format", "json").stdout)
    forgotten = sorted(c["key"] for c in plan["changes"] if c["action"] == "forget")
    assert forgotten == ["b::poster", "b::seq"]
    assert plan["summary"]["forget"] == 2 and plan["summary"]["noop"] == 3
    before = set(ws.jobs())
    ws.cli("apply", ws.manifest, code=0)
    after = set(ws.jobs())
    assert before - after == {"b::poster", "b::seq"}
    assert ws.out("posters/b clip.jpg").exists()  # forget deletes nothing


def test_missing_and_undecodable_inputs_fail_with_the_service_codes_and_others_go_on(
    ws: Workspace, video_10s: Path
) -> None:
    ws.add_video(video_10s, "videos/ok.mp4")
    bad = ws.oss / "media-in" / "videos" / "bad.mp4"
    bad.write_bytes(b"this is not a video")
    ws.write(
        HEADER
        + """\
inputs: [videos/ok.mp4, videos/bad.mp4, videos/missing.mp4]
rules:
  - {id: p, time: 1s, output: "p/{FileName}.jpg"}
  - {id: s, time: 0, num: 2, output: "s/{FileName}/{Count}.jpg"}
"""
    )
    r = ws.cli("apply", ws.manifest, code=3)
    assert "2 succeeded, 4 failed" in r.stdout
    jobs = ws.jobs()
    assert jobs["videos/missing.mp4::p"]["code"] == "InvalidParameter.ResourceNotFound"
    assert jobs["videos/missing.mp4::s"]["code"] == "InvalidParameter.ResourceNotFound"
    assert jobs["videos/bad.mp4::s"]["code"] == "InvalidParameter.ResourceContentBad"
    assert jobs["videos/ok.mp4::s"]["state"] == "Success"
    # These codes are permanent: apply does not resubmit the same request; `retry` forces it.
    ws.add_video(video_10s, "videos/missing.mp4")
    r = ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0)
    assert "0 to retry" in r.stdout and "4 failed (not resubmitted)" in r.stdout and "2 unchanged" in r.stdout
    # The command on a line of its own when the line would not fit 80 columns: pasted whole.
    assert f"To resubmit the failed jobs anyway:\n  specrunner retry {ws.manifest}\n" in r.stdout
    r = ws.cli("apply", ws.manifest, code=3)  # the failures stand: CI stays red until someone acts
    assert "4 failed before and not resubmitted" in r.stdout and "Still failed (4)" in r.stdout
    assert "videos/missing.mp4::p  InvalidParameter.ResourceNotFound" in r.stdout
    assert f"specrunner retry {ws.manifest}" in r.stdout.split("Still failed")[1]
    r = ws.cli("retry", ws.manifest, code=3)
    assert "4 retried" in r.stdout and "2 succeeded, 2 failed" in r.stdout
    ok_id = jobs["videos/ok.mp4::p"]["job_id"]
    assert ws.jobs()["videos/ok.mp4::p"]["job_id"] == ok_id


def test_no_wait_leaves_jobs_running_and_the_next_apply_resumes_them(ws: Workspace, video_10s: Path) -> None:
    setup(ws, video_10s)
    r = ws.cli("apply", ws.manifest, "--target", "seq", "--no-wait")
    assert r.exit_code in (0, 4)
    jobs = ws.jobs()
    ids = {k: v["job_id"] for k, v in jobs.items()}
    assert all(ids.values())  # the job id is recorded before anyone waits on it
    r = ws.cli("plan", ws.manifest, "--target", "seq")
    if "to resume" in r.stdout and "0 to resume" not in r.stdout:
        assert "poll it, never resubmit" in r.stdout
    ws.cli("apply", ws.manifest, "--target", "seq", code=0)
    jobs = ws.jobs()
    assert {k: v["job_id"] for k, v in jobs.items()} == ids  # nothing resubmitted
    assert all(v["state"] == "Success" for v in jobs.values())


def test_saved_plan_applies_exactly_and_is_refused_when_stale(ws: Workspace, video_10s: Path) -> None:
    setup(ws, video_10s)
    plan_file = ws.dir / "p.json"
    ws.cli("plan", ws.manifest, "--out", plan_file, "--target", "poster", code=0)
    ws.cli("apply", plan_file, code=0)
    assert set(ws.jobs()) == {"b::poster", "videos/a.mp4::poster"}
    r = ws.cli("apply", plan_file, code=1)  # the state changed: the plan is stale, even applied twice
    assert "stale" in r.output
    ws.cli("plan", ws.manifest, "--out", plan_file, code=0)
    ws.write(DEMO.replace("width: 320", "width: 300", 1))
    r = ws.cli("apply", plan_file, code=1)
    assert "manifest changed" in r.output


def test_state_override_and_default_path(ws: Workspace, video_10s: Path) -> None:
    setup(ws, video_10s)
    other = ws.dir / "elsewhere.json"
    ws.cli("apply", ws.manifest, "--state", other, "--target", "poster", code=0)
    assert other.exists() and not ws.state.exists()
    r = ws.cli("show", ws.manifest, "--state", other, "--format", "json", code=0)
    assert len(json.loads(r.stdout)["jobs"]) == 2


def test_sync_timeout_is_replanned_as_async(ws: Workspace, video_10s: Path) -> None:
    ws.add_video(video_10s, "videos/a.mp4")
    text = (
        HEADER.replace("root: ./oss}", "root: ./oss, sync_timeout: 0.000001}")
        + """\
inputs: [videos/a.mp4]
rules:
  - {id: p, time: 9s, frame_type: normal, output: "p/{FileName}.jpg"}
"""
    )
    ws.write(text)
    ws.cli("apply", ws.manifest, code=3)
    rec = ws.jobs()["videos/a.mp4::p"]
    assert rec["code"] == "SnapshotTimeOut" and rec["mode"] == "sync"
    r = ws.cli("plan", ws.manifest, code=0)
    assert "timed out" in r.stdout and "async" in r.stdout
    ws.cli("apply", ws.manifest, code=0)
    rec = ws.jobs()["videos/a.mp4::p"]
    assert rec["mode"] == "async" and rec["state"] == "Success"
    assert rec["request"]["SnapshotConfig"]["Num"] == "1"
    ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0)  # and it stays async: no churn


def test_saved_plan_works_from_another_directory_and_a_damaged_one_is_refused(
    ws: Workspace, video_10s: Path, monkeypatch
) -> None:
    setup(ws, video_10s)
    (ws.dir / "plans").mkdir()
    monkeypatch.chdir(ws.dir)
    ws.cli("plan", "m.yaml", "--out", "plans/p.json", "--target", "poster", code=0)
    monkeypatch.chdir(ws.dir / "plans")
    ws.cli("apply", "p.json", code=0)
    assert set(ws.jobs()) == {"b::poster", "videos/a.mp4::poster"}
    bad = ws.dir / "plans" / "bad.json"
    bad.write_text('{"kind": "specrunner-plan", "format_version": "1.0"}')
    r = ws.cli("apply", bad, code=1)
    assert "damaged" in r.stderr and "Traceback" not in r.output
