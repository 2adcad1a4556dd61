"""The output collision check: its fast path (every key of a rule resolved at once) reports exactly
what the input-by-input loop reports, on generated manifests full of clashes and unsafe keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specrunner.validate import collisions
from specrunner.validate.manifest import check_manifest

TEMPLATES = [
    "out/{ObjectPrefix}{FileName}.jpg",
    "out/{FileName}.jpg",
    "out/{FileName}{ExtName}.jpg",
    "out/x.jpg",
    "{ObjectPrefix}../{FileName}.jpg",
    "out/{FileName}/{Count}.jpg",
    "sprites/{FileName}-{TileCount}.jpg",
    "{ObjectPrefix}{FileName}.{ExtName}",
    "a/{FileName}.jpg",
    "a/b/{FileName}.jpg",
    "a/b/c.jpg",
    "out/a.jpg",
    "a/b/a.jpg",
    "{FileName}.jpg",
    "x{FileName}.jpg",
]
OBJECTS = ["videos/a.mp4", "videos/a.mov", "other/a.mp4", "b.mp4", "videos/..mp4", "videos/a", "x/y/.mp4"]


def document(rules: list[dict[str, Any]], objects: list[str]) -> dict[str, Any]:
    return {
        "version": 1,
        "target": {"backend": "local"},
        "defaults": {"location": "oss-cn-shanghai", "input_bucket": "in", "output_bucket": "out"},
        "inputs": objects,
        "rules": rules,
    }


rule_st = st.builds(
    lambda rid, out, tile, bucket: {
        "id": rid,
        "time": 0,
        "output": out,
        **({"output_bucket": bucket} if bucket else {}),
        **({"tile": {"lines": 2, "columns": 2, "output": tile}, "num": 4, "interval": 1} if tile else {}),
    },
    st.sampled_from(["r1", "r2", "r3", "r4", "r5"]),
    st.sampled_from(TEMPLATES),
    st.one_of(st.none(), st.sampled_from(TEMPLATES)),
    st.sampled_from([None, "out", "other-out"]),
)


def diagnostics(tmp_path: Path, doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    _, diags = check_manifest(path)
    return [(d.line, d.column, d.path, d.severity, d.message) for d in diags]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rules=st.lists(rule_st, min_size=1, max_size=6),
    objects=st.lists(st.sampled_from(OBJECTS), min_size=1, max_size=5, unique=True),
)
def test_the_fast_path_reports_what_the_exact_loop_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rules: list[dict[str, Any]], objects: list[str]
) -> None:
    doc = document(rules, objects)
    fast = diagnostics(tmp_path, doc)
    with monkeypatch.context() as m:
        m.setattr(collisions, "_may_be_unsafe", lambda *args: True)  # always the exact loop
        exact = diagnostics(tmp_path, doc)
    assert fast == exact


def test_clashes_are_named_job_by_job(tmp_path: Path) -> None:
    rules = [
        {"id": "a", "time": 0, "output": "out/{FileName}.jpg"},
        {"id": "b", "time": 0, "output": "out/{FileName}.jpg"},
    ]
    diags = diagnostics(tmp_path, document(rules, ["videos/a.mp4", "other/a.mp4"]))
    msgs = [d[4] for d in diags if "would both write" in d[4]]
    assert msgs == [
        "jobs videos/a.mp4::a and other/a.mp4::a would both write out/out/a.jpg; "
        "add {FileName} or {ObjectPrefix} to the output, or use a different folder",
        "jobs videos/a.mp4::a and videos/a.mp4::b would both write out/out/a.jpg; "
        "add {FileName} or {ObjectPrefix} to the output, or use a different folder",
    ]


# A ``format: vtt`` job also writes its WebVTT index, ``{FileName}.vtt`` next to its first snapshot
# (``core.mtsrules.vtt_object``): two jobs sharing one would overwrite each other's index, and the lock
# file would give one object to both (a prune of one would delete the other's).


def vtt(rid: str, output: str, **more: Any) -> dict[str, Any]:
    return {"id": rid, "time": 0, "num": 3, "interval": 1, "format": "vtt", "output": output, **more}


def clashes(tmp_path: Path, rules: list[dict[str, Any]], objects: list[str]) -> list[str]:
    return [d[4] for d in diagnostics(tmp_path, document(rules, objects)) if "would both write" in d[4]]


def test_two_vtt_rules_writing_one_index_are_refused(tmp_path: Path) -> None:
    rules = [vtt("a", "vv/{FileName}/a-{Count}.jpg"), vtt("b", "vv/{FileName}/b-{Count}.jpg")]
    msgs = clashes(tmp_path, rules, ["videos/a.mp4"])
    assert len(msgs) == 1
    assert "videos/a.mp4::a and videos/a.mp4::b" in msgs[0]
    assert "out/vv/a/a.vtt" in msgs[0]


def test_two_inputs_of_one_name_writing_one_index_are_refused(tmp_path: Path) -> None:
    msgs = clashes(tmp_path, [vtt("a", "vv/{ExtName}-{Count}.jpg")], ["videos/a.mp4", "videos/a.mov"])
    assert len(msgs) == 1 and "videos/a.mp4::a and videos/a.mov::a" in msgs[0] and "out/vv/a.vtt" in msgs[0]


def test_indexes_of_their_own_are_accepted(tmp_path: Path) -> None:
    rules = [
        vtt("a", "vv/{FileName}/a/{Count}.jpg"),
        vtt("b", "vv/{FileName}/b/{Count}.jpg"),
        vtt("c", "{ObjectPrefix}{FileName}-c/{Count}.jpg"),
        {"id": "d", "time": 0, "num": 3, "interval": 1, "output": "vv/{FileName}/{Count}.jpg"},  # no index
        vtt("e", "vv/{FileName}/a/{Count}.jpg", output_bucket="other-out"),  # another bucket
    ]
    assert clashes(tmp_path, rules, ["videos/a.mp4", "other/b.mp4"]) == []
