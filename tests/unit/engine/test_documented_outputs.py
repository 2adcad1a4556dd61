"""The local engine's outputs as the documents describe them, on a real generated video: WebVTT cues
(``Format: vtt``) that name a picture that exists, in the sprite's own cell size; ``CellSelStep``;
``{Count}`` for an interval-only job; a multi-snapshot job whose Time is past the end."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from PIL import Image

from specrunner.engine.errors import ServiceError
from specrunner.engine.service import SnapshotService
from specrunner.testing.video import make_video

LOC = "oss-cn-shanghai"
WIDTH, HEIGHT = 320, 240


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("v") / "clip.mp4"
    make_video(path, duration_s=4, fps=10, width=WIDTH, height=HEIGHT, gop=10)
    return path


@pytest.fixture
def svc(tmp_path: Path, video: Path) -> Iterator[SnapshotService]:
    (tmp_path / "media-in").mkdir()
    (tmp_path / "media-in" / "clip.mp4").write_bytes(video.read_bytes())
    service = SnapshotService(tmp_path, sync_timeout=30, process_async=False)
    try:
        yield service
    finally:
        service.close()


def run(svc: SnapshotService, **cfg: Any) -> dict[str, Any]:
    """Submit and run the job in this thread (async jobs too); its final record."""
    config = {"Time": "0", "FrameType": "normal", **cfg}
    job = svc.submit_snapshot_job(
        json.dumps({"Bucket": "media-in", "Location": LOC, "Object": "clip.mp4"}), json.dumps(config)
    )
    svc._work(job["Id"])  # the worker's own step, without the pool
    found = svc._find(job["Id"])
    assert found is not None
    return found


def out(obj: str, bucket: str = "media-out") -> dict[str, str]:
    return {"Bucket": bucket, "Location": LOC, "Object": obj}


def cues(root: Path, key: str) -> list[str]:
    text = (root / "media-out" / key).read_text()
    return [line for line in text.splitlines() if line and "-->" not in line and line != "WEBVTT"]


def test_vtt_cues_point_into_the_sprite_when_cells_are_not_kept(svc: SnapshotService) -> None:
    job = run(
        svc,
        OutputFile=out("s/{Count}.jpg"),
        TileOutputFile=out("t/{TileCount}.jpg"),
        Interval="1",
        Num="4",
        Format="vtt",
        TileOut={"Lines": "2", "Columns": "2", "CellWidth": "160", "IsKeepCellPic": "false"},
    )
    assert job["State"] == "Success", job
    refs = cues(svc.root, "s/clip.vtt")
    # cells scaled to the aspect ratio: 160 x 120, not the frame's 320 x 240; the sprite named
    # relative to the .vtt (s/clip.vtt -> t/00001.jpg)
    assert refs == [
        "../t/00001.jpg#xywh=0,0,160,120",
        "../t/00001.jpg#xywh=160,0,160,120",
        "../t/00001.jpg#xywh=0,120,160,120",
        "../t/00001.jpg#xywh=160,120,160,120",
    ]
    with Image.open(svc.root / "media-out" / "t" / "00001.jpg") as sprite:
        assert sprite.size == (320, 240)  # every cue's rectangle lies inside the sprite
    assert not (svc.root / "media-out" / "s" / "00001.jpg").exists()  # no single picture kept


def test_vtt_cues_name_the_kept_pictures(svc: SnapshotService) -> None:
    run(svc, OutputFile=out("k/{Count}.jpg"), Interval="1", Num="2", Format="vtt")
    assert cues(svc.root, "k/clip.vtt") == ["00001.jpg", "00002.jpg"]


def test_cell_sel_step_tiles_every_nth_snapshot(svc: SnapshotService) -> None:
    job = run(
        svc,
        OutputFile=out("c/{Count}.jpg"),
        TileOutputFile=out("c/tile-{TileCount}.jpg"),
        Interval="0",
        Num="6",
        TileOut={"Lines": "1", "Columns": "3", "CellSelStep": "2"},
    )
    assert (job["Count"], job["TileCount"]) == ("6", "3")  # snapshots 1, 3 and 5 are tiled
    assert sorted(p.name for p in (svc.root / "media-out" / "c").iterdir() if p.name.startswith("tile")) == [
        "tile-00001.jpg"
    ]


def test_an_interval_only_job_needs_count(svc: SnapshotService) -> None:
    with pytest.raises(ServiceError) as caught:
        run(svc, OutputFile=out("fixed.jpg"), Interval="1")
    assert "{Count}" in caught.value.message


def test_a_multi_snapshot_job_past_the_end_returns_the_real_count(svc: SnapshotService) -> None:
    job = run(svc, OutputFile=out("e/{Count}.jpg"), Time="9000", Interval="1", Num="5")
    assert (job["State"], job["Count"]) == ("Success", "1"), job
    assert re.fullmatch(r"0000[1]\.jpg", " ".join(p.name for p in (svc.root / "media-out" / "e").iterdir()))


# A cue names its picture by a URL relative to the .vtt object, as players resolve it: the sprite lives
# in the tile output's folder (or bucket), a kept picture in its own folder.


def target(root: Path, vtt_key: str, ref: str, bucket: str = "media-out") -> tuple[Path, list[int]]:
    """The object a cue's reference names (resolved against the .vtt's own key), and its #xywh."""
    url, _, frag = ref.partition("#xywh=")
    key = posixpath.normpath(posixpath.join(posixpath.dirname(vtt_key), unquote(url)))
    return root / bucket / key, [int(v) for v in frag.split(",")] if frag else []


def test_cues_reach_a_sprite_in_another_folder(svc: SnapshotService) -> None:
    job = run(
        svc,
        OutputFile=out("s/{FileName}/{Count}.jpg"),
        TileOutputFile=out("t/{FileName}-{TileCount}.jpg"),
        Interval="1",
        Num="4",
        Format="vtt",
        TileOut={"Lines": "1", "Columns": "2", "IsKeepCellPic": "false"},
    )
    assert job["State"] == "Success", job
    refs = cues(svc.root, "s/clip/clip.vtt")
    assert len(refs) == 4
    for ref in refs:
        path, (x, y, w, h) = target(svc.root, "s/clip/clip.vtt", ref)
        assert path.is_file(), ref
        with Image.open(path) as sprite:
            assert x + w <= sprite.size[0] and y + h <= sprite.size[1]
    assert refs[0].startswith("../../t/clip-00001.jpg#xywh=")


def test_cues_reach_kept_pictures_in_folders_of_their_own(svc: SnapshotService) -> None:
    run(svc, OutputFile=out("k/{Count}/pic.jpg"), Interval="1", Num="2", Format="vtt")
    refs = cues(svc.root, "k/00001/clip.vtt")
    assert refs == ["pic.jpg", "../00002/pic.jpg"]
    for ref in refs:
        assert target(svc.root, "k/00001/clip.vtt", ref)[0].is_file()


def test_a_sprite_in_another_bucket_is_named_by_its_oss_url(svc: SnapshotService) -> None:
    (svc.root / "media-sprites").mkdir()
    run(
        svc,
        OutputFile=out("b/{Count}.jpg"),
        TileOutputFile=out("t/{TileCount}.jpg", bucket="media-sprites"),
        Interval="1",
        Num="2",
        Format="vtt",
        TileOut={"Lines": "1", "Columns": "2", "IsKeepCellPic": "false"},
    )
    refs = cues(svc.root, "b/clip.vtt")
    assert refs[0].startswith("https://media-sprites.oss-cn-shanghai.aliyuncs.com/t/00001.jpg#xywh=")
    assert (svc.root / "media-sprites" / "t" / "00001.jpg").is_file()
