"""`show` within 80 columns when one job key is longer than the table allows: that key goes on a line
of its own above its row (never cut), and the other rows are not padded to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import HEADER, Workspace

LONG = "videos/very-long-folder-name-for-the-campaign-2026/a-really-long-video-file-name.mp4"


def test_a_long_key_has_its_own_line_and_the_rest_of_the_table_fits(
    ws: Workspace, video_4s: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ws.dir)
    ws.add_video(video_4s, "videos/a.mp4")
    ws.add_video(video_4s, LONG)
    ws.write(
        HEADER
        + f'inputs: [videos/a.mp4, "{LONG}"]\n'
        + 'rules:\n  - {id: poster, time: 1s, output: "p/{FileName}.jpg"}\n'
    )
    ws.cli("apply", "m.yaml", code=0)
    out = ws.cli("show", "m.yaml", code=0).stdout
    lines = out.splitlines()
    key = f"{LONG}::poster"
    assert key in lines, out  # whole, alone on its line
    row = lines[lines.index(key) + 1]
    assert row.split()[:3] == ["Success", "sync", "1"], out
    assert all(len(line) <= 80 for line in lines if line != key), out
    assert any(line.startswith("videos/a.mp4::poster  ") and "Success" in line for line in lines), out
    wide = ws.cli("show", "m.yaml", "-v", code=0).stdout  # -v: one row per job, nothing moved
    assert any(line.startswith(key) and "Success" in line for line in wide.splitlines()), wide
