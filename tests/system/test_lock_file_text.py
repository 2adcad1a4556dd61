"""The lock file keeps its promise: object keys as the user wrote them, no absolute paths; lock
files written before (keys URL-encoded) still read and plan as a no-op."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from tests.conftest import HEADER, Workspace

MANIFEST = (
    HEADER
    + """\
inputs: ["videos/day one.mp4", "videos/clip2.mp4", "videos/100%.mp4"]
rules:
  - {id: p, time: 1s, output: "posters/{FileName} big.jpg"}
"""
)


def test_keys_as_written_no_absolute_paths_and_old_encoded_files_still_plan_as_noop(
    ws: Workspace, video_4s: Path
) -> None:
    ws.add_video(video_4s, "videos/day one.mp4")
    ws.add_video(video_4s, "videos/100%.mp4")  # clip2 is missing: its job fails
    ws.write(MANIFEST)
    ws.cli("apply", ws.manifest, code=3)
    text = ws.state.read_text()
    assert str(ws.dir) not in text and str(ws.dir.resolve()) not in text
    jobs = ws.jobs()
    rec = jobs["videos/day one.mp4::p"]
    assert rec["request"]["Input"]["Object"] == "videos/day one.mp4"
    assert rec["request"]["SnapshotConfig"]["OutputFile"]["Object"] == "posters/{FileName} big.jpg"
    assert (
        jobs["videos/100%.mp4::p"]["request"]["Input"]["Object"] == "videos%2F100%25.mp4"
    )  # '%' stays encoded
    assert jobs["videos/clip2.mp4::p"]["message"] == "input file not found: media-in/videos/clip2.mp4"
    ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0)

    # A lock file from before (every key URL-encoded) reads and plans as a no-op; diffs show plain keys.
    current = json.loads(text)
    doc = {"jobs": ws.jobs(), "lineage": current["lineage"], "serial": current["serial"], "version": 1}
    for r in doc["jobs"].values():
        for part in (r["request"]["Input"], r["request"]["SnapshotConfig"]["OutputFile"]):
            if "%" not in part["Object"]:
                part["Object"] = quote(part["Object"], safe="")
    ws.state.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    before = ws.state.read_bytes()
    ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0)
    ws.cli("apply", ws.manifest, code=3)  # nothing to do; the failed job still stands failed
    assert ws.state.read_bytes() == before
    ws.write(MANIFEST.replace("{FileName} big.jpg", "{FileName} small.jpg"))
    out = ws.cli("plan", ws.manifest, code=0).stdout
    assert 'output: "posters/{FileName} big.jpg" -> "posters/{FileName} small.jpg"' in out
