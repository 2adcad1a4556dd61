"""Plan diffs in the manifest's terms (text, JSON, markdown), and --target patterns that match nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import HEADER, Workspace

BEFORE = (
    HEADER
    + """\
inputs: ["videos/a clip.mp4"]
rules:
  - {id: poster, time: 5s, output: "posters/{FileName}.jpg"}
  - {id: thumbs, time: 0, num: 6, output: "thumbs/{FileName}/{Count}.jpg"}
"""
)
AFTER = (
    HEADER
    + """\
inputs: ["videos/a clip.mp4"]
rules:
  - {id: poster, time: 4s, output: "covers/{ObjectPrefix}{FileName} large.jpg"}
  - {id: thumbs, time: 0, num: 6, output: "thumbs/{FileName}/{Count}.jpg",
     tile: {lines: 3, columns: 2, cell_width: 80, output: "sprites/{FileName}-{TileCount}.jpg"}}
"""
)


def test_a_changed_time_output_and_an_added_tile_read_in_the_manifests_terms(
    ws: Workspace, video_10s: Path
) -> None:
    ws.add_video(video_10s, "videos/a clip.mp4")
    ws.write(BEFORE)
    ws.cli("apply", ws.manifest, code=0)
    ws.write(AFTER)
    out = ws.cli("plan", ws.manifest, code=0).stdout
    assert "videos/a clip.mp4::poster  sync   changed: time, output\n" in out
    assert "        time: 5s -> 4s\n" in out
    # Too wide for 80 columns: the new value goes under the old one, whole.
    assert '        output: "posters/{FileName}.jpg"\n' in out
    assert '             -> "covers/{ObjectPrefix}{FileName} large.jpg"\n' in out
    assert max(len(line) for line in out.splitlines()[1:]) <= 80
    assert "        tile: added 3x2\n          cell_width: 80\n" in out
    assert "%2F" not in out and "SnapshotConfig" not in out and "..." not in out

    doc = json.loads(ws.cli("plan", ws.manifest, "--format", "json", code=0).stdout)
    by_key = {c["key"]: c for c in doc["changes"]}
    poster = {d["attribute"]: d for d in by_key["videos/a clip.mp4::poster"]["diff"]}
    assert poster["time"]["before"] == "5s" and poster["time"]["after"] == "4s"
    assert poster["output"]["after"] == "covers/{ObjectPrefix}{FileName} large.jpg"
    assert poster["output"]["api"] == "SnapshotConfig.OutputFile.Object"
    (tile,) = by_key["videos/a clip.mp4::thumbs"]["diff"]
    assert tile["attribute"] == "tile" and tile["before"] is None
    assert tile["after"]["lines"] == 3 and tile["after"]["columns"] == 2 and tile["after"]["cell_width"] == 80

    md = ws.cli("plan", ws.manifest, "--format", "markdown", code=0).stdout
    assert "`time: 5s -> 4s`" in md and "tile: added 3x2" in md

    # A saved plan with diffs is still a valid plan file.
    ws.cli("plan", ws.manifest, "--out", ws.dir / "p.json", code=0)
    ws.cli("apply", ws.dir / "p.json", code=0)


def test_a_target_or_exclude_that_matches_nothing_is_an_error_naming_the_closest_keys(
    ws: Workspace, video_4s: Path
) -> None:
    ws.add_video(video_4s, "videos/a clip.mp4")
    ws.write(BEFORE)
    r = ws.cli("plan", ws.manifest, "--target", "postr", "--detailed-exitcode", code=1)
    assert "--target 'postr' matches no job key, input id or rule id; closest: poster" in r.output
    r = ws.cli("apply", ws.manifest, "--exclude", "thumb", code=1)
    assert "--exclude 'thumb' matches no job key" in r.output and "thumbs" in r.output
    assert not ws.state.exists()
    ws.cli("plan", ws.manifest, "--target", "poster", "--detailed-exitcode", code=2)
