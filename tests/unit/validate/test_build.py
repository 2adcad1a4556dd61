"""The typed model (validate.build) is built from the validated document in its final types: an integer
written 640.0 (an integer for JSON Schema) is the int 640, so the request says "640" either way; rates
are floats; what the document leaves out comes from ``defaults:`` and the target's defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from specrunner.core.jobs import expand
from specrunner.core.model import Discovery, Input, Target
from specrunner.validate.build import build_manifest
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


def test_build_fills_in_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """build_manifest on a checked document: defaults, the target's defaults, discovery entries, the
    tile's bucket from its rule, durations in the API's units, the manifest's folder."""
    monkeypatch.chdir(tmp_path)
    doc = {
        "version": 1,
        "defaults": {"location": "oss-cn-shanghai", "input_bucket": "in", "output_bucket": "out"},
        "inputs": [
            "videos/a.mp4",
            {"id": "b", "object": "videos/b.mp4", "bucket": "other", "location": "oss-cn-beijing"},
            {"prefix": "clips/", "match": "*.mp4"},
        ],
        "rules": [
            {
                "id": "board",
                "time": "1.5s",
                "interval": "2m",
                "output": "b/{FileName}/{Count}.jpg",
                "output_bucket": "boards",
                "tile": {"lines": 2.0, "columns": 3, "output": "s/{FileName}-{TileCount}.jpg"},
                "inputs": ["videos/*"],
                "mts": {"Zeta": 1, "Alpha": "x"},
            }
        ],
    }
    m = build_manifest(doc, tmp_path / "m.yaml")
    assert m.path == "m.yaml" and m.base_dir == str(tmp_path.resolve())
    assert m.target == Target() and m.pipeline_id is None and m.state is None and m.name is None
    assert m.inputs == (
        Input(id="videos/a.mp4", object="videos/a.mp4", bucket="in", location="oss-cn-shanghai"),
        Input(id="b", object="videos/b.mp4", bucket="other", location="oss-cn-beijing"),
    )
    assert m.discoveries == (
        Discovery(index=2, prefix="clips/", match="*.mp4", bucket="in", location="oss-cn-shanghai"),
    )
    (rule,) = m.rules
    assert (rule.time_ms, rule.interval_s, rule.output_bucket, rule.output_location) == (
        1500,
        120,
        "boards",
        "oss-cn-shanghai",
    )
    assert rule.inputs == ("videos/*",) and rule.mode == "auto" and rule.mts == (("Alpha", "x"), ("Zeta", 1))
    assert rule.tile is not None and (rule.tile.bucket, rule.tile.location) == ("boards", "oss-cn-shanghai")
    assert type(rule.tile.lines) is int and rule.tile.lines == 2
