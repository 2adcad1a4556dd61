"""Writing a finished job's outputs into their buckets: the snapshots, the sprites and the WebVTT index.

Names come from the job's ``OutputFile`` / ``TileOutputFile`` templates (:func:`~specrunner.engine.api.fill`);
with ``Format: vtt`` a ``{FileName}.vtt`` next to the first snapshot lists each snapshot's time span
and its picture or, with ``SubOut.IsSptFrag`` or when no single picture is kept
(``IsKeepCellPic: false``), its cell of a sprite (``sprite.jpg#xywh=x,y,w,h``, the cell's own size).
A picture is named relative to the ``.vtt`` object, as players resolve cue URLs (``../t/00001.jpg``);
one in another bucket by its OSS URL.
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import quote

from specrunner.core.mtsrules import vtt_object
from specrunner.engine.api import fill, object_location
from specrunner.engine.jpeg import encode_jpeg
from specrunner.engine.objects import ObjectStore
from specrunner.engine.results import Frame, SnapshotResult
from specrunner.engine.scale import fit
from specrunner.engine.spec import SnapshotSpec
from specrunner.engine.sprites import build_sprites


def write_outputs(
    store: ObjectStore, job: dict[str, Any], spec: SnapshotSpec, result: SnapshotResult, in_key: str
) -> None:
    cfg = job["SnapshotConfig"]
    out_bucket, _, out_tpl = object_location(cfg["OutputFile"], "OutputFile")
    written: list[tuple[str, Frame]] = []
    if spec.tile is None or spec.tile.keep_cells:
        for frame in result.frames:
            key = fill(out_tpl, in_key, Count=f"{frame.index:05d}", SnapshotTime=str(frame.time_ms))
            store.write(out_bucket, key, encode_jpeg(frame.image))
            written.append((key, frame))
    sprites_keys: list[str] = []
    if spec.tile is not None:
        t_bucket, _, t_tpl = object_location(cfg["TileOutputFile"], "TileOutputFile")
        for i, sprite in enumerate(build_sprites(result.frames, spec.tile), start=1):
            key = fill(t_tpl, in_key, TileCount=f"{i:05d}", Count=f"{i:05d}", SnapshotTime="0")
            store.write(t_bucket, key, encode_jpeg(sprite))
            sprites_keys.append(key)
    if str(cfg.get("Format", "")).lower() == "vtt":
        _write_vtt(store, cfg, out_bucket, out_tpl, in_key, spec, result, written, sprites_keys)


def _write_vtt(
    store: ObjectStore,
    cfg: dict[str, Any],
    bucket: str,
    out_tpl: str,
    in_key: str,
    spec: SnapshotSpec,
    result: SnapshotResult,
    written: list[tuple[str, Frame]],
    sprites: list[str],
) -> None:
    first = fill(out_tpl, in_key, Count="00001", SnapshotTime="0")
    vtt_key = vtt_object(first, fill("{FileName}", in_key))
    times = [f.time_ms for f in result.frames] + [result.duration_ms]
    lines = ["WEBVTT", ""]
    tile = spec.tile
    # The cues point into the sprites when asked (SubOut.IsSptFrag) or when no single picture is kept.
    into_sprites = (
        tile is not None
        and bool(sprites)
        and (not tile.keep_cells or str(cfg.get("SubOut", {}).get("IsSptFrag", "")).lower() == "true")
    )
    folder = posixpath.dirname(vtt_key)
    sprite_bucket, sprite_location, _ = (
        object_location(cfg["TileOutputFile"], "TileOutputFile") if sprites else (bucket, "", "")
    )
    for i, frame in enumerate(result.frames):
        ref = ""
        if into_sprites and tile is not None:
            per = tile.lines * tile.columns
            cw, ch = fit(tile.cell_width, tile.cell_height, result.frames[0].image.size)  # as the sprites
            cell = i // (tile.cell_sel_step or 1)  # a frame left out of the sprite shows the cell before
            x = tile.margin + (cell % per % tile.columns) * (cw + tile.padding)
            y = tile.margin + (cell % per // tile.columns) * (ch + tile.padding)
            sprite = sprites[min(cell // per, len(sprites) - 1)]
            ref = f"{_url(folder, bucket, sprite_bucket, sprite_location, sprite)}#xywh={x},{y},{cw},{ch}"
        elif i < len(written):
            ref = _url(folder, bucket, bucket, "", written[i][0])
        lines += [
            f"{_vtt_ts(frame.time_ms)} --> {_vtt_ts(max(times[i + 1], frame.time_ms + 1))}",
            ref,
            "",
        ]
    store.write(bucket, vtt_key, "\n".join(lines).encode())


def _url(folder: str, vtt_bucket: str, bucket: str, location: str, key: str) -> str:
    """A picture's URL as a cue names it: relative to the ``.vtt`` object's ``folder`` (players resolve
    cue URLs against the index's own), or the OSS URL of an object in another bucket."""
    if bucket != vtt_bucket:
        return f"https://{bucket}.{location}.aliyuncs.com/{quote(key)}"
    return quote(posixpath.relpath(key, folder or "."))


def _vtt_ts(ms: int) -> str:
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"
