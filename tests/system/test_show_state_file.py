"""`show` knows what it is given: a lock file given as it is (a pulled copy, a CI artifact) is shown
as the state, and the commands its note names (state show, state list, outputs) read it too; a JSON
file that is none of manifest, saved plan or state is still one error, exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import HEADER, Workspace


def test_a_lock_file_given_to_show_is_shown_as_the_state(
    ws: Workspace, video_4s: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ws.dir)
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(
        HEADER + 'inputs: [videos/a.mp4]\nrules:\n  - {id: poster, time: 1s, output: "p/{FileName}.jpg"}\n'
    )
    ws.cli("apply", "m.yaml", code=0)
    pulled = ws.dir / "pulled.lock.json"
    pulled.write_text(ws.cli("state", "pull", "m.yaml", code=0).stdout)
    out = ws.cli("show", "pulled.lock.json", code=0).stdout
    assert "videos/a.mp4::poster" in out and "Success" in out and "1 jobs (1 Success)" in out, out
    listed = ws.cli("state", "list", "pulled.lock.json", code=0).stdout
    assert listed.startswith("videos/a.mp4::poster\tSuccess\t")
    assert "job_id" in ws.cli("state", "show", "pulled.lock.json", "videos/a.mp4::poster", code=0).stdout
    assert "media-out/p/a.jpg" in ws.cli("outputs", "pulled.lock.json", code=0).stdout
    (ws.dir / "other.json").write_text('{"a": 1}\n')
    r = ws.cli("show", "other.json", code=1)
    assert "other.json: not a specrunner manifest" in r.output and "nor a state" in r.output
