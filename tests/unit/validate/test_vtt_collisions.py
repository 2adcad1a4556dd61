"""A ``format: vtt`` job also writes its WebVTT index, ``{FileName}.vtt`` next to its first snapshot
(``core.mtsrules.vtt_object``): two jobs whose snapshots differ but whose index is one object would
overwrite each other's index, and the lock file would give one object to both (a prune of one would
delete the other's). validate refuses it as it refuses any two jobs writing one object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.unit.validate.test_collisions import diagnostics, document


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
