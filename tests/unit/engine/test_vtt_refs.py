"""A WebVTT cue names its picture by a URL relative to the ``.vtt`` object, as players resolve it: the
sprite of a ``Format: vtt`` job lives in the tile output's folder (or bucket), a kept picture in its
own folder, and neither need be the folder of the index."""

from __future__ import annotations

import posixpath
from pathlib import Path
from urllib.parse import unquote

from PIL import Image

from specrunner.engine.service import SnapshotService
from tests.unit.engine.test_documented_outputs import cues, out, run, svc, video

__all__ = ["svc", "video"]  # the fixtures, shared


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
