"""JSON Schema errors in the manifest's terms (validate.schemaerrors): each at the ``file:line:col`` of
the value (of the key, for an unknown key) with its JSON path and a message that says what is allowed."""

from __future__ import annotations

from collections.abc import Callable

from specrunner.core.diagnostics import PathT, Severity
from specrunner.validate.schemaerrors import schema_errors

Check = Callable[[str], list[str]]

HEAD = """\
version: 1
target: {backend: local}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs:
  - videos/a.mp4
rules:
"""


def test_unknown_keys_get_the_closest_name_or_the_allowed_ones(check: Check) -> None:
    text = HEAD.replace("{backend: local}", "{backend: local, rooot: ./oss, qqq: 1}")
    assert check(text + "  - id: p\n    widht: 640\n    output: p/{FileName}.jpg\n") == [
        "m.yaml:2:26: $.target.rooot: unknown key 'rooot'; did you mean 'root'?",
        "m.yaml:2:40: $.target.qqq: unknown key 'qqq'; allowed keys: backend, root, region, endpoint, "
        "pipeline_id, qps, sync_timeout",
        "m.yaml:8:5: $.rules[0].widht: unknown key 'widht'; did you mean 'width'?",
    ]


def test_missing_keys_types_and_constants(check: Check) -> None:
    text = HEAD.replace("version: 1", "version: 2")
    assert check(text + '  - id: p\n    width: "640"\n    output: p/{FileName}.jpg\n  - time: 0\n') == [
        "m.yaml:1:10: $.version: must be 1, got 2",
        "m.yaml:8:12: $.rules[0].width: expected an integer, got string '640'",
        "m.yaml:10:5: $.rules[1]: missing required key 'id'",
        "m.yaml:10:5: $.rules[1]: missing required key 'output'",
    ]


def test_ranges_choices_and_patterns_say_what_is_allowed(check: Check) -> None:
    text = HEAD.replace("input_bucket: media-in", "input_bucket: Media_In")
    out = check(text + "  - id: p\n    height: 5000\n    frame_type: intr\n    output: p/{FileName}.jpg\n")
    assert [line for line in out if "warning" not in line] == [
        "m.yaml:3:53: $.defaults.input_bucket: 'Media_In' is not valid here (bucket names are 3-63 lowercase "
        "letters, digits and '-')",
        "m.yaml:8:13: $.rules[0].height: height = 5000 is out of range; allowed: 8..4096",
        "m.yaml:9:17: $.rules[0].frame_type: 'intr' is not one of 'intra', 'normal'; did you mean 'intra'?",
    ]


def test_a_duration_the_schema_refuses_gets_the_duration_message(check: Check) -> None:
    assert check(HEAD + "  - id: p\n    interval: 1500ms\n    output: p/{FileName}/{Count}.jpg\n") == [
        "m.yaml:8:15: $.rules[0].interval: interval: '1500ms' is not a whole number of seconds; the "
        "service's Interval is in whole seconds"
    ]


def test_empty_lists(check: Check) -> None:
    text = HEAD.replace("inputs:\n  - videos/a.mp4\nrules:\n", "inputs: []\nrules: []\n")
    assert check(text) == [
        "m.yaml:4:9: $.inputs: must have at least 1 item(s)",
        "m.yaml:5:8: $.rules: must have at least 1 item(s)",
    ]


def test_errors_in_a_mixed_input_list_keep_their_real_index(check: Check) -> None:
    """Plain-string inputs are checked without the validator; the other entries' paths still name
    their own index in the document."""
    inputs = """\
  - videos/a.mp4
  - ""
  - {id: b, object: videos/b.mp4, bucket: media-in, location: nowhere}
  - videos/b.mp4
  - {id: c, objet: videos/a.mp4}
"""
    text = (
        HEAD.replace("  - videos/a.mp4\n", inputs)
        + '  - {id: p, inputs: [videos/*], output: "p/{FileName}.jpg"}\n'
    )
    assert check(text) == [
        "m.yaml:6:5: $.inputs[1]: length 0 is out of range (an object key has 1 to 1,024 characters)",
        "m.yaml:7:63: $.inputs[2].location: 'nowhere' is not valid here "
        "(an OSS region such as oss-cn-shanghai)",
        "m.yaml:9:5: $.inputs[4]: missing required key 'object'",
        "m.yaml:9:13: $.inputs[4].objet: unknown key 'objet'; did you mean 'object'?",
    ]


def test_schema_errors_alone_and_unknown_keys_point_at_the_key() -> None:
    """Called directly: only the schema's errors (no semantic check), mapped to the real indexes."""
    seen: list[tuple[PathT, str, bool]] = []

    def add(path: PathT, message: str, /, *, key: bool = False, severity: Severity = "error") -> None:
        seen.append((path, message, key))

    doc = {
        "version": 1,
        "inputs": ["a.mp4", "a.mp4", {"object": "b.mp4", "bukket": "x"}],  # a duplicate id: not the schema's
        "rules": [{"id": "p", "output": "p.png"}],  # not a .jpg: not the schema's either
    }
    schema_errors(doc, add)
    assert seen == [(("inputs", 2, "bukket"), "unknown key 'bukket'; did you mean 'bucket'?", True)]
    seen.clear()
    schema_errors({**doc, "inputs": ["a.mp4"]}, add)
    assert seen == []


def test_published_schema_states_the_documented_pipeline_id_rule() -> None:
    """Editors that read schemas/manifest.v1.json refuse what validate and MTS refuse: every
    pipeline_id in the schema carries the error code list's rule, and it is said once, not thrice."""
    import json
    from pathlib import Path

    from specrunner.core.mtsrules import pipeline_id_problem

    text = (Path(__file__).parents[3] / "schemas" / "manifest.v1.json").read_text()
    found: list[dict[str, object]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pipeline_id"), dict):
                found.append(node["pipeline_id"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(text))
    assert len(found) == 3
    for prop in found:
        assert prop["pattern"] == "^[a-f0-9]{32}$"
    assert pipeline_id_problem("a" * 32) is None and pipeline_id_problem("A" * 32) is not None
