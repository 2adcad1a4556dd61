"""A workspace for manifest checks: ``check(text)`` writes ``m.yaml`` next to a local root holding the
inputs ``media-in/videos/a.mp4`` and ``media-in/videos/b.mp4`` (so the local backend's input checks
stay quiet) and returns every diagnostic rendered as ``m.yaml:LINE:COL: $.path: message``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from specrunner.validate.manifest import check_manifest_document

Check = Callable[[str], list[str]]


@pytest.fixture
def check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Check:
    videos = tmp_path / "oss" / "media-in" / "videos"
    videos.mkdir(parents=True)
    for name in ("a.mp4", "b.mp4"):
        (videos / name).write_bytes(b"")
    monkeypatch.chdir(tmp_path)

    def run(text: str) -> list[str]:
        Path("m.yaml").write_text(text, encoding="utf-8")
        return [d.render() for d in check_manifest_document("m.yaml")[1]]

    return run
