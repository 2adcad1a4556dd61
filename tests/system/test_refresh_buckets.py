"""Plan refreshes against the buckets (issue 22): the local engine's real frames and files, the real CLI.

A deleted output, an overwritten input, a corrupt upload then the fixed one, a state written before
outputs were verified, and ``--refresh=false``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import HEADER, Workspace

MANIFEST = (
    HEADER
    + """\
inputs: [videos/a.mp4, videos/b.mp4]
rules:
  - {id: poster, time: 1s, width: 160, output: "posters/{FileName}.jpg"}
  - {id: thumbs, time: 0, num: 2, interval: 1s, width: 160, output: "thumbs/{FileName}/{Count}.jpg"}
"""
)


def applied(ws: Workspace, video: Path) -> None:
    ws.add_video(video, "videos/a.mp4")
    ws.add_video(video, "videos/b.mp4")
    ws.write(MANIFEST)
    ws.cli("apply", str(ws.manifest), code=0)


def lines(ws: Workspace) -> dict[str, dict[str, object]]:
    jobs: dict[str, dict[str, object]] = json.loads(ws.state.read_text())["jobs"]
    return jobs


def test_apply_records_outputs_with_size_and_etag_and_the_input_fingerprint(
    ws: Workspace, video_4s: Path
) -> None:
    import hashlib

    applied(ws, video_4s)
    line = lines(ws)["videos/a.mp4::thumbs"]
    outs = ws.jobs()["videos/a.mp4::thumbs"]["outputs"]
    assert outs == ["media-out/thumbs/a/00001.jpg", "media-out/thumbs/a/00002.jpg"]
    for (size, etag), ref in zip(line["seen"], outs, strict=True):  # type: ignore[call-overload]
        data = (ws.oss / ref).read_bytes()
        assert size == len(data) and etag == hashlib.md5(data).hexdigest().upper()
    assert line["input_etag"] == hashlib.md5(video_4s.read_bytes()).hexdigest().upper()
    assert isinstance(line["seen_at"], str) and line["seen_at"].endswith("Z")
    before = ws.state.read_bytes()
    assert "No changes" in ws.cli("plan", str(ws.manifest), "--detailed-exitcode", code=0).output
    ws.cli("apply", str(ws.manifest), code=0)
    assert ws.state.read_bytes() == before  # a no-op rerun leaves the lock file byte for byte


def test_a_deleted_output_is_replaced_with_its_reason_and_comes_back(ws: Workspace, video_4s: Path) -> None:
    applied(ws, video_4s)
    ws.out("posters/a.jpg").unlink()
    out = ws.cli("plan", str(ws.manifest), "--detailed-exitcode", code=2).output
    assert "videos/a.mp4::poster" in out and "output missing: posters/a.jpg" in out
    assert "1 to replace" in out and "3 unchanged" in out
    # --refresh=false (and --no-refresh): the state as recorded, no listing
    for flag in ("--refresh=false", "--no-refresh"):
        assert "No changes" in ws.cli("plan", str(ws.manifest), flag, "--detailed-exitcode", code=0).output
    ws.cli("apply", str(ws.manifest), code=0)
    assert ws.out("posters/a.jpg").is_file()
    assert "No changes" in ws.cli("plan", str(ws.manifest), "--detailed-exitcode", code=0).output


def test_a_changed_output_is_replaced(ws: Workspace, video_4s: Path) -> None:
    applied(ws, video_4s)
    ws.out("thumbs/b/00002.jpg").write_bytes(b"not the frame")
    out = ws.cli("plan", str(ws.manifest), "--format", "json", code=0).output
    doc = json.loads(out)
    (change,) = [c for c in doc["changes"] if c["action"] == "replace"]
    assert change["key"] == "videos/b.mp4::thumbs" and change["reason"].startswith(
        "output changed: thumbs/b/00002.jpg"
    )
    assert doc["selection"]["refresh"] is True
    assert doc["refresh"]["outputs_changed"] == 1 and doc["refresh"]["outputs_checked"] == 6
    assert doc["refresh"]["at"].endswith("Z")


def test_an_overwritten_input_replaces_its_jobs(ws: Workspace, video_4s: Path, video_10s: Path) -> None:
    applied(ws, video_4s)
    ws.add_video(video_10s, "videos/b.mp4")  # a new cut
    out = ws.cli("plan", str(ws.manifest), code=0).output
    assert out.count("input changed: media-in/videos/b.mp4") == 2, out
    assert "2 to replace" in out and "2 unchanged" in out
    ws.cli("apply", str(ws.manifest), code=0)
    assert "No changes" in ws.cli("plan", str(ws.manifest), code=0).output


def test_a_corrupt_upload_fails_then_the_fixed_upload_is_planned_again_without_retry(
    ws: Workspace, video_4s: Path
) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    (ws.oss / "media-in" / "videos").mkdir(parents=True, exist_ok=True)
    (ws.oss / "media-in" / "videos" / "b.mp4").write_bytes(b"\x00not a video" * 100)
    ws.write(MANIFEST)
    ws.cli("apply", str(ws.manifest), code=3)
    ws.cli("apply", str(ws.manifest), code=3)  # the failure stands: CI stays red
    out = ws.cli("plan", str(ws.manifest), "--detailed-exitcode", code=0).output  # nothing to submit
    assert "2 failed" in out or "failed (2)" in out, out
    ws.add_video(video_4s, "videos/b.mp4")  # the fixed upload
    out = ws.cli("plan", str(ws.manifest), "--detailed-exitcode", code=2).output
    assert out.count("input changed: media-in/videos/b.mp4") == 2 and "0 to retry" in out, out
    ws.cli("apply", str(ws.manifest), code=0)
    assert all(rec["state"] == "Success" for rec in ws.jobs().values())


def test_a_state_written_before_verification_plans_as_noop_and_the_next_apply_records_it(
    ws: Workspace, video_4s: Path
) -> None:
    """A version-2 lock file written before outputs were verified (no seen, seen_at, input_etag):
    outputs are checked for existence only, inputs not at all, nothing is submitted, and the next
    apply records what it saw; the apply after that leaves the file byte for byte."""
    applied(ws, video_4s)
    verified = ws.state.read_bytes()
    doc = json.loads(verified)
    for line in doc["jobs"].values():
        for k in ("seen", "seen_at", "input_etag"):
            del line[k]
    from specrunner.statefile.codec import Decoder, encode

    dec = Decoder(doc["configs"])
    old = {k: dec.record(k, v) for k, v in doc["jobs"].items()}
    ws.state.write_bytes(encode(doc["lineage"], doc["serial"], old, doc.get("manifest")))  # type: ignore[arg-type]
    before = ws.state.read_bytes()
    assert b"seen" not in before and b"input_etag" not in before
    ws.add_video(video_4s, "videos/b.mp4")  # the same bytes again: nothing to compare with anyway
    out = " ".join(ws.cli("plan", str(ws.manifest), "--detailed-exitcode", code=0).output.split())
    assert "No changes" in out and "4 job(s) get their verification recorded by the next apply" in out
    out = ws.cli("apply", str(ws.manifest), code=0).output
    assert "0 created" in out and "0 succeeded" in out and "State written" in out
    after = lines(ws)
    assert all({"seen", "seen_at", "input_etag"} <= set(line) for line in after.values())
    recorded = ws.state.read_bytes()
    ws.cli("apply", str(ws.manifest), code=0)
    assert ws.state.read_bytes() == recorded
    # the records are what a fresh apply writes (but for the time they were seen)
    fresh = json.loads(verified)["jobs"]
    for key, line in after.items():
        assert {k: v for k, v in line.items() if k != "seen_at"} == {
            k: v for k, v in fresh[key].items() if k != "seen_at"
        }


def test_an_output_deleted_from_an_old_state_is_still_found_missing(ws: Workspace, video_4s: Path) -> None:
    applied(ws, video_4s)
    text = ws.state.read_text()
    doc = json.loads(text)
    line = doc["jobs"]["videos/b.mp4::poster"]
    del line["seen"], line["seen_at"]
    ws.state.write_text(json.dumps(doc))
    shutil.rmtree(ws.out("posters"))
    out = ws.cli("plan", str(ws.manifest), code=0).output
    assert "output missing: posters/a.jpg" in out and "output missing: posters/b.jpg" in out


def test_a_saved_plan_refreshes_again_when_applied(ws: Workspace, video_4s: Path) -> None:
    applied(ws, video_4s)
    ws.out("posters/b.jpg").unlink()
    plan = ws.dir / "p.json"
    ws.cli("plan", str(ws.manifest), "--out", str(plan), code=0)
    doc = json.loads(plan.read_text())
    assert doc["selection"]["refresh"] is True and doc["refresh"]["outputs_missing"] == 1
    out = ws.cli("apply", str(plan), code=0).output
    assert "1 succeeded" in out and ws.out("posters/b.jpg").is_file()
    # a plan saved with --refresh=false is applied without the refresh: what it planned, no more
    ws.out("posters/a.jpg").unlink()
    ws.cli("plan", str(ws.manifest), "--refresh=false", "--out", str(plan), code=0)
    assert json.loads(plan.read_text())["selection"]["refresh"] is False
    assert "0 succeeded" in ws.cli("apply", str(plan), code=0).output
    assert not ws.out("posters/a.jpg").exists()


def test_replace_names_a_job_whatever_the_buckets_hold(ws: Workspace, video_4s: Path) -> None:
    applied(ws, video_4s)
    out = ws.cli("plan", str(ws.manifest), "--replace", "videos/a.mp4::poster", code=0).output
    assert "replaced on request (--replace)" in out and "1 to replace" in out
    ws.out("posters/a.jpg").unlink()
    out = ws.cli("plan", str(ws.manifest), "--replace", "videos/a.mp4::poster", code=0).output
    assert "output missing: posters/a.jpg (and --replace)" in out
