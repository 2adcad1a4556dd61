"""The typed model is built from the validated document in its final types: an integer written 640.0
(an integer for JSON Schema) is the int 640, so the request says "640" either way; rates are floats."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from specrunner.core.jobs import expand
from specrunner.validate.manifest import load_manifest

DOC = """version: 1
target: {backend: aliyun, region: cn-shanghai, qps: {submit: %(qps)s}}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs: [videos/a.mp4]
rules:
  - id: board
    time: 0
    interval: 2s
    num: %(num)s
    width: %(width)s
    tile: {lines: %(lines)s, columns: 2, cell_width: %(width)s, output: "s/{FileName}-{TileCount}.jpg"}
    output: "b/{FileName}/{Count}.jpg"
"""


def test_integers_written_as_floats_build_the_same_model(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(DOC % {"qps": 40, "num": 4, "width": 320, "lines": 2})
    b.write_text(DOC % {"qps": 40.0, "num": 4.0, "width": 320.0, "lines": 2.0})
    ma, mb = load_manifest(a), load_manifest(b)
    ra, rb = ma.rules[0], mb.rules[0]
    assert dataclasses.replace(ra) == rb and ra.tile == rb.tile
    for rule in (ra, rb):
        assert type(rule.num) is int and type(rule.width) is int
        assert rule.tile is not None and type(rule.tile.lines) is int and type(rule.tile.cell_width) is int
    assert type(ma.target.qps_submit) is float and ma.target.qps_submit == mb.target.qps_submit == 40.0
    (ja,), (jb,) = list(expand(ma)), list(expand(mb))
    assert ja.request == jb.request and ja.fingerprint == jb.fingerprint
    assert ja.request["SnapshotConfig"]["Width"] == "320" and ja.request["SnapshotConfig"]["Num"] == "4"
    assert ja.request["SnapshotConfig"]["TileOut"]["Lines"] == "2"
