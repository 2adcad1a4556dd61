"""The checks beyond the schema (validate.semantic, with validate.collisions), family by family: each
problem is reported at the ``file:line:col`` of the value (or of the key, where the key is the
problem) with its JSON path and a message that says how to fix it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from specrunner.core.diagnostics import PathT, Severity
from specrunner.validate.semantic import semantic_errors

Check = Callable[[str], list[str]]

HEAD = """\
version: 1
target: {backend: local}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs:
  - videos/a.mp4
rules:
"""


def test_a_valid_document_has_no_diagnostics(check: Check) -> None:
    assert check(HEAD + "  - id: poster\n    time: 5s\n    output: posters/{FileName}.jpg\n") == []


def test_keys_of_the_other_backend_point_at_the_key(check: Check) -> None:
    local = HEAD.replace("{backend: local}", "{backend: local, region: cn-shanghai, endpoint: x}")
    assert check(local + "  - id: p\n    output: p/{FileName}.jpg\n") == [
        "m.yaml:2:26: $.target.region: region is for the aliyun backend; remove it or set backend: aliyun",
        "m.yaml:2:47: $.target.endpoint: endpoint is for the aliyun backend; "
        "remove it or set backend: aliyun",
    ]
    aliyun = HEAD.replace("{backend: local}", "{backend: aliyun, root: ./oss, sync_timeout: 3}")
    assert check(aliyun + "  - id: p\n    output: p/{FileName}.jpg\n")[:3] == [
        "m.yaml:2:9: $.target: backend aliyun needs `region`, e.g. region: cn-shanghai",
        "m.yaml:2:27: $.target.root: root is for the local backend; remove it (aliyun reads from OSS)",
        "m.yaml:2:40: $.target.sync_timeout: sync_timeout is for the local backend; remove it",
    ]


def test_a_name_is_one_line(check: Check) -> None:
    text = HEAD.replace("version: 1\n", 'version: 1\nname: "demo\\n"\n')
    assert check(text + "  - id: p\n    output: p/{FileName}.jpg\n") == [
        "m.yaml:2:7: $.name: a name is one line: remove the trailing newline"
    ]


def test_inputs_need_a_unique_id_a_bucket_and_a_location(check: Check) -> None:
    text = """\
version: 1
target: {backend: local}
defaults: {output_bucket: media-out, location: oss-cn-shanghai}
inputs:
  - {object: videos/a.mp4, bucket: media-in}
  - {object: videos/a.mp4, bucket: media-in, location: oss-cn-shanghai}
  - {prefix: videos/, location: oss-cn-shanghai}
rules:
  - {id: p, output: "p/{FileName}.jpg", inputs: [x]}
"""
    defaults_without_location = text.replace(", location: oss-cn-shanghai}", "}", 1)
    assert check(defaults_without_location) == [
        "m.yaml:5:5: $.inputs[0]: no location: set defaults.location or this input's `location`",
        "m.yaml:6:5: $.inputs[1]: duplicate input id 'videos/a.mp4' (also inputs[0]); give one an `id:`",
        "m.yaml:7:5: $.inputs[2]: no bucket: set defaults.input_bucket or this entry's `bucket`",
        "m.yaml:9:5: $.rules[0]: no output location: set defaults.location or the rule's `output_location`",
    ]


def test_a_discovery_prefix_stays_inside_its_bucket(check: Check) -> None:
    text = HEAD.replace("  - videos/a.mp4\n", "  - videos/a.mp4\n  - {prefix: ../up/}\n")
    assert check(text + "  - id: p\n    output: p/{FileName}.jpg\n") == [
        "m.yaml:6:14: $.inputs[1].prefix: prefix must be relative to the bucket, without '..' segments"
    ]


def test_object_keys_of_inputs_and_outputs_must_be_safe(check: Check) -> None:
    text = HEAD.replace("  - videos/a.mp4\n", '  - videos/a.mp4\n  - {id: b, object: "/videos/b.mp4"}\n')
    assert check(text + "  - id: p\n    output: ../p/{FileName}.jpg\n") == [
        "m.yaml:6:21: $.inputs[1].object: object keys must not start with '/'; "
        "write the key relative to the bucket",
        "m.yaml:9:13: $.rules[0].output: object key must name a file: no '..' segments and no trailing '/'",
    ]


def test_a_bad_duration_is_reported_once(check: Check) -> None:
    """The schema and the semantic check both read ``time``: one diagnostic, with the example fix."""
    assert check(HEAD + "  - id: p\n    time: 5 sec\n    output: p/{FileName}.jpg\n") == [
        "m.yaml:8:11: $.rules[0].time: time: cannot read '5 sec' as a duration; "
        "write e.g. 5s, 1500ms, 2m, 1h or 00:01:30.500"
    ]


def test_placeholders_are_known_and_in_their_place(check: Check) -> None:
    out = check(HEAD + '  - id: p\n    output: "p/{Filename}/{Zzzzzzzzzzzz}/{TileCount}.png"\n')
    assert out == [
        "m.yaml:8:13: $.rules[0].output: output objects are JPG images: the key must end in .jpg",
        "m.yaml:8:13: $.rules[0].output: unknown placeholder {Filename}; did you mean {FileName}?",
        "m.yaml:8:13: $.rules[0].output: unknown placeholder {Zzzzzzzzzzzz}; allowed: {ObjectPrefix}, "
        "{FileName}, {ExtName}, {SnapshotTime}, {Count}, {TileCount}",
        "m.yaml:8:13: $.rules[0].output: {TileCount} belongs in tile.output; use {Count} here",
    ]


def test_several_snapshots_need_count_and_tilecount(check: Check) -> None:
    rule = """\
  - id: multi
    num: 3
    output: "m/{FileName}.jpg"
    tile: {lines: 2, columns: 2, output: "s/{FileName}.jpg"}
  - id: one
    output: "o/{FileName}.jpg"
    tile: {lines: 2, columns: 2, output: "s1/{FileName}-{TileCount}.jpg"}
"""
    assert check(HEAD + rule) == [
        "m.yaml:9:13: $.rules[0].output: more than one snapshot per job: the output must contain {Count} "
        "(e.g. snaps/{FileName}/{Count}.jpg)",
        "m.yaml:10:42: $.rules[0].tile.output: more than one snapshot per job: the tile output must contain "
        "{TileCount} (e.g. sprites/{FileName}-{TileCount}.jpg)",
        "m.yaml:13:11: $.rules[1].tile: warning: a tile needs several snapshots: set num (> 1) or interval",
    ]


def test_mode_and_black_level_settings_that_do_not_apply(check: Check) -> None:
    rules = """\
  - id: s
    mode: sync
    num: 2
    output: "s/{FileName}/{Count}.jpg"
  - id: b
    time: 5s
    black_level: 30
    pixel_black_threshold: 10
    output: "b/{FileName}.jpg"
  - id: p
    pixel_black_threshold: 10
    num: 1
    interval: 2
    output: "p/{FileName}.jpg"
"""
    assert check(HEAD + rules) == [
        "m.yaml:8:11: $.rules[0].mode: mode sync cannot be used with num or interval: the service makes "
        "such jobs async; use mode: auto",
        "m.yaml:13:5: $.rules[1].black_level: warning: black_level only applies when time is 0 and several "
        "snapshots are taken (num > 1, or an interval without num); the service ignores it here",
        "m.yaml:17:5: $.rules[2].pixel_black_threshold: warning: pixel_black_threshold is used together "
        "with black_level",
        "m.yaml:19:5: $.rules[2].interval: warning: num: 1 ignores interval (a single snapshot)",
    ]


def test_user_data_leaves_room_for_the_tag_and_mts_cannot_set_a_modelled_key(check: Check) -> None:
    user_data = "x" * 1010
    rule = (
        f'  - id: u\n    user_data: "{user_data}"\n    mts: {{Width: 100, Custom: 1}}\n    output: u/p.jpg\n'
    )
    out = check(HEAD + rule)
    assert out == [
        "m.yaml:8:16: $.rules[0].user_data: length 1010 is out of range (maxLength 1004)",
        "m.yaml:8:16: $.rules[0].user_data: user_data is 1010 bytes; the limit is 1004 (MTS allows 1024 and "
        "specrunner appends a 20-byte tag)",
        "m.yaml:9:11: $.rules[0].mts.Width: Width is modelled: use `width:` on the rule instead",
    ]


def test_rules_need_a_unique_id_and_an_output_bucket(check: Check) -> None:
    text = HEAD.replace(", output_bucket: media-out", "")
    rules = """\
  - id: u
    output: "u/{FileName}.jpg"
  - id: u
    output_bucket: media-out
    inputs: ["clips/*", "videos/*"]
    output: "v/{FileName}.jpg"
"""
    assert check(text + rules) == [
        "m.yaml:7:5: $.rules[0]: no output bucket: set defaults.output_bucket or the rule's `output_bucket`",
        "m.yaml:9:9: $.rules[1].id: duplicate rule id 'u' (also rules[0])",
        "m.yaml:11:14: $.rules[1].inputs[0]: warning: glob 'clips/*' matches no input id",
    ]


def test_a_glob_is_not_judged_when_inputs_are_discovered(check: Check) -> None:
    text = HEAD.replace("  - videos/a.mp4\n", "  - videos/a.mp4\n  - {prefix: clips/}\n")
    assert check(text + '  - {id: p, inputs: ["clips/*"], output: "p/{FileName}.jpg"}\n') == []


def test_collisions_and_unsafe_resolved_keys_name_the_jobs(check: Check) -> None:
    text = HEAD.replace(
        "  - videos/a.mp4\n",
        '  - videos/a.mp4\n  - {id: b, object: videos/b.mp4}\n  - {id: dots, object: "videos/..mp4"}\n',
    )
    rules = """\
  - id: x
    inputs: [videos/*, b]
    output: "out/x.jpg"
  - id: y
    inputs: [dots]
    output: "{ObjectPrefix}../{FileName}.jpg"
"""
    assert [line for line in check(text + rules) if "does not exist under" not in line] == [
        "m.yaml:11:13: $.rules[0].output: jobs videos/a.mp4::x and b::x would both write "
        "media-out/out/x.jpg; "
        "add {FileName} or {ObjectPrefix} to the output, or use a different folder",
        "m.yaml:14:13: $.rules[1].output: for input 'dots' the output resolves to "
        "'videos/../..jpg': "
        "object key must name a file: no '..' segments and no trailing '/'",
    ]


def test_semantic_errors_are_defensive_and_point_at_keys() -> None:
    """Called directly: values of the wrong type are skipped (the schema reports them), and a key
    that should not be there is reported with ``key=True``."""
    seen: list[tuple[PathT, str, bool, Severity]] = []

    def add(path: PathT, message: str, /, *, key: bool = False, severity: Severity = "error") -> None:
        seen.append((path, message, key, severity))

    hostile: dict[str, Any] = {"target": [], "defaults": 5, "inputs": {"a": 1}, "rules": [3, {"id": 7}]}
    semantic_errors(hostile, add)
    assert [(p, k, s) for p, _, k, s in seen] == [
        (("rules", 1), False, "error"),  # no output bucket
        (("rules", 1), False, "error"),  # no output location
    ]
    seen.clear()
    semantic_errors({"target": {"backend": "local", "region": "cn-shanghai"}}, add)
    assert seen == [
        (
            ("target", "region"),
            "region is for the aliyun backend; remove it or set backend: aliyun",
            True,
            "error",
        )
    ]


def test_a_tile_colour_must_be_a_keyword_hex_or_random() -> None:
    """A colour the service refuses at Submit (TileOut.Color) is caught by validate, with the fix,
    instead of failing every job (the engine refuses it too, as InvalidParameter: never retried)."""
    from specrunner.engine.api import parse_config
    from specrunner.engine.colours import colour_problem
    from specrunner.engine.errors import ServiceError

    assert [c for c in ("black", "Black", "random", "#a0B0c0", " white ") if colour_problem(c)] == []
    for bad in ("notacolour", "#fff", "rgb(1,2,3)", "#12345g"):
        assert "not a colour keyword" in (colour_problem(bad) or ""), bad
        cfg = {"Time": "0", "Num": "4", "TileOut": {"Lines": "2", "Columns": "2", "Color": bad}}
        cfg["TileOutputFile"] = {"Bucket": "b", "Location": "oss-cn-shanghai", "Object": "t.jpg"}
        with pytest.raises(ServiceError) as e:
            parse_config(cfg)
        assert e.value.code == "InvalidParameter" and "TileOut.Color" in e.value.message


def test_the_colour_keywords_are_the_ones_the_engine_draws_with() -> None:
    from PIL import ImageColor

    from specrunner.engine.colours import KEYWORDS

    assert frozenset(ImageColor.colormap) == KEYWORDS
