"""Issue 22 attacked as an operator or a hostile file would: hand-edited lock files, folders that are
not what they seem, objects rewritten behind specrunner's back. Real files, real subprocesses."""

from __future__ import annotations

import json
import os
from pathlib import Path

from specrunner.statefile.doc import decode_state
from tests.conftest import HEADER, Workspace

MANIFEST = (
    HEADER
    + """\
inputs: [videos/a.mp4]
rules:
  - {id: poster, time: 1s, width: 80, output: "posters/{FileName}.jpg"}
"""
)


def applied(ws: Workspace, video: Path, manifest: str = MANIFEST) -> None:
    ws.add_video(video, "videos/a.mp4")
    ws.write(manifest)
    ws.cli("apply", ws.manifest, code=0)


def add_retired(state: Path, *entries: dict[str, str]) -> None:
    """A hand edit: ``entries`` appended to the lock file's retired list (made when absent)."""
    doc = json.loads(state.read_text())
    items = [*doc.get("retired", []), *entries]
    lines = ",\n".join(
        "    " + json.dumps(e, sort_keys=True) for e in sorted(items, key=lambda e: e["object"])
    )
    text = state.read_text()
    head = text[: text.index(',\n  "retired"')] if '"retired"' in text else text.rstrip()[:-1].rstrip()
    state.write_text(head + ',\n  "retired": [\n' + lines + "\n  ]\n}\n")
    assert decode_state(state.read_bytes(), state).retired  # still a valid lock file


def test_prune_never_deletes_an_input_a_hand_edited_retired_list_names(ws: Workspace, video_4s: Path) -> None:
    applied(ws, video_4s)
    source = ws.oss / "media-in" / "videos" / "a.mp4"
    original = source.read_bytes()
    add_retired(
        ws.state,
        {"job": "x::y", "object": "media-in/videos/a.mp4"},
        {"job": "x::y", "object": "media-out/posters/../../media-in/videos/a.mp4"},
    )
    r = ws.cli("prune", ws.manifest, "--dry-run", code=0)
    assert "= keep media-in/videos/a.mp4 (from x::y): an input of the manifest" in r.stdout
    r = ws.cli("prune", ws.manifest, code=1)  # the `..` key is refused, the input kept
    assert source.read_bytes() == original
    assert "refusing to delete media-out/posters/../../media-in/videos/a.mp4" in r.output
    ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0)  # the input and its job are untouched
    assert sorted(decode_state(ws.state.read_bytes(), ws.state).retired) == [
        "media-out/posters/../../media-in/videos/a.mp4"
    ]
    assert os.path.exists(ws.out("posters/a.jpg"))
