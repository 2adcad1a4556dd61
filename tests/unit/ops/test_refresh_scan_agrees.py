"""The refresh's hot path (``ops.refreshscan``: a lock file's lines read as parsed, one-object rules named
inline, every output compared at once) finds exactly what the comparison of decoded records finds
(``ops.refresh._compare``, the reference), on a real lock file of a mixed manifest whose lines and buckets
are then damaged at random: outputs deleted or rewritten, inputs overwritten, pairs of the wrong shape or
types (a size ``true`` or ``1.0``), counts changed, fields added or broken."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from specrunner.apply.outcomes import outcome_record
from specrunner.backends.base import RemoteJob
from specrunner.core.jobs import expand
from specrunner.ops.refresh import Refresh, refresh_state
from specrunner.ops.refreshscan import decoded
from specrunner.statefile.doc import StateDoc, decode_state, encode_state
from specrunner.validate.manifest import load_manifest
from tests.fakes import FakeBucket

MANIFEST = """\
version: 1
target: {backend: local, root: ./oss}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs:
  - videos/a.mp4
  - videos/day 1/b clip.mp4
  - {id: c, object: "videos/c%20d.mp4"}
  - {id: d, bucket: other-in, object: "x/d.mov"}
rules:
  - {id: poster, time: 1s, width: 640, output: "posters/{ObjectPrefix}{FileName}.jpg"}
  - {id: flat, time: 2s, output: "flat-{FileName}.{ExtName}.jpg"}
  - {id: other, time: 0, output: "p/{FileName}.jpg", output_bucket: media-alt}
  - {id: seq, time: 0, interval: 1, num: 3, frame_type: normal, output: "seq/{FileName}/{Count}.jpg"}
  - id: board
    time: 0
    interval: 2
    num: 8
    frame_type: intra
    output: "board/{FileName}/{Count}.jpg"
    tile: {lines: 2, columns: 2, keep_cells: false, output: "sprites/{FileName}-{TileCount}.jpg"}
  - id: cells
    time: 0
    interval: 2
    num: 4
    output: "cells/{FileName}/{Count}.jpg"
    tile: {lines: 1, columns: 3, output: "cellsprites/{FileName}-{TileCount}.jpg"}
"""


def applied(tmp_path: Path) -> tuple[bytes, dict[tuple[str, str], tuple[int, str]]]:
    """A lock file of the manifest applied and verified (every record with its outputs' sizes and ETags
    and its input's ETag), and the buckets holding exactly those objects."""
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST)
    rnd = random.Random(7)
    objects: dict[tuple[str, str], tuple[int, str]] = {}

    def put(ref: str) -> tuple[int, str]:
        b, _, k = ref.partition("/")
        if (b, k) not in objects:
            objects[(b, k)] = (rnd.randrange(1, 10**6), f"{rnd.getrandbits(64):016X}")
        return objects[(b, k)]

    recs = {}
    for job in expand(load_manifest(path)):
        cfg = job.request["SnapshotConfig"]
        count = int(cfg.get("Num", "1"))
        tiles = count if "TileOut" in cfg else 0
        rec = outcome_record(
            job, RemoteJob(id=f"j-{job.key}", state="Success", count=count, tile_count=tiles)
        )
        seen = tuple(put(o) for o in rec.outputs)
        recs[job.key] = rec.evolve(seen=seen, seen_at="2026-12-07T00:00:00Z", input_etag=put(rec.input)[1])
    return encode_state(StateDoc("lineage", 1, recs)), objects


def findings(r: Refresh) -> dict[str, Any]:
    return {
        "drift": r.drift,
        "record": r.record,
        "counts": (r.jobs, r.outputs, r.inputs, r.missing, r.changed, r.inputs_changed),
        "missing": r.missing_outputs,
        "changed": r.changed_outputs,
    }


Objects = dict[tuple[str, str], tuple[int, str]]


def both(data: bytes, objects: Objects) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the hot path's findings on the lock file as parsed, the reference's on its decoded records)."""
    doc = decode_state(data, Path("m.lock.json"))
    assert doc.compact is not None
    fast = refresh_state(doc, lambda: FakeBucket(objects), chunked=True)
    records = dict(decoded(doc, list(doc.compact.lines)))
    slow = refresh_state(StateDoc("lineage", 1, records), lambda: FakeBucket(objects), chunked=True)
    return findings(fast), findings(slow)


def test_an_untouched_state_is_all_as_recorded_by_both(tmp_path: Path) -> None:
    data, objects = applied(tmp_path)
    fast, slow = both(data, objects)
    assert fast == slow
    assert not fast["drift"] and not fast["record"]
    jobs = json.loads(data)["jobs"]
    assert fast["counts"][0] == len(jobs) == 24
    # the one-object rules' lines are the usual verified line: read inline
    assert any(
        set(line) == {"config", "input", "job_id", "state", "count", "seen", "seen_at", "input_etag"}
        for line in jobs.values()
    )


def _damage_line(line: dict[str, Any], rnd: random.Random) -> None:
    seen = line.get("seen")
    what = rnd.randrange(12)
    if what == 0 and seen:
        seen[rnd.randrange(len(seen))][0] = True  # a bool is not a size
    elif what == 1 and seen:
        pair = seen[rnd.randrange(len(seen))]
        pair[0] = float(pair[0])  # nor is a float, even one equal to the size listed
    elif what == 2 and seen:
        seen[rnd.randrange(len(seen))] = [seen[0][0]]  # a pair cut short
    elif what == 3 and seen:
        seen.pop()  # one pair fewer than outputs
    elif what == 4:
        line["count"] = 0
    elif what == 5:
        line["count"] = int(line.get("count") or 0) + 1
    elif what == 6:
        line["seen_at"] = "yesterday"
    elif what == 7:
        line["state"] = "Fail"
        line["code"] = "InvalidParameter"
    elif what == 8:
        line["job_id"] = 7
    elif what == 9:
        line["input_etag"] = "NOT-THE-ETAG"
    elif what == 10:
        line["extra"] = 1
    elif seen:
        seen[rnd.randrange(len(seen))][1] = "OTHER"


def _damage_buckets(objects: dict[tuple[str, str], tuple[int, str]], rnd: random.Random) -> None:
    key = rnd.choice(sorted(objects))
    what = rnd.randrange(4)
    if what == 0:
        del objects[key]
    elif what == 1:
        objects[key] = (objects[key][0] + 1, objects[key][1])
    elif what == 2:
        objects[key] = (objects[key][0], "REWRITTEN")
    else:
        objects[key] = (0, "EMPTY")


@pytest.mark.parametrize("seed", range(40))
def test_a_damaged_state_and_buckets_are_found_alike_by_both(tmp_path: Path, seed: int) -> None:
    data, objects = applied(tmp_path)
    rnd = random.Random(seed)
    doc = json.loads(data)
    for _ in range(rnd.randrange(1, 6)):
        _damage_line(doc["jobs"][rnd.choice(sorted(doc["jobs"]))], rnd)
    objects = copy.deepcopy(objects)
    for _ in range(rnd.randrange(0, 6)):
        _damage_buckets(objects, rnd)
    fast, slow = both(json.dumps(doc).encode(), objects)
    assert fast == slow
