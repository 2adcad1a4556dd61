"""The refresh read from a lock file's compact lines (``ops.refreshscan``) finds what the refresh of the same
jobs held as records finds: the same replacements with the same reasons, the same verification to record,
the same counts and listings; the usual verified line is read without decoding its record, anything odd
is decoded (an invalid line is left to the plan, which names it)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from specrunner.core.jobs import expand
from specrunner.core.record import LockEntry
from specrunner.ops.refresh import Refresh, _Wanted, refresh_state
from specrunner.ops.refreshscan import scan
from specrunner.statefile.codec import encode
from specrunner.statefile.doc import StateDoc
from tests.unit.ops.test_planning import manifest, read, recorded, success, verified
from tests.unit.ops.test_refresh_listing import Bucket

Objects = dict[tuple[str, str], tuple[int, str]]


def at(ref: str) -> tuple[str, str]:
    """(bucket, key) of "bucket/key"."""
    bucket, _, key = ref.partition("/")
    return bucket, key


def etag_of(ref: str) -> str:
    return hashlib.md5(ref.encode(), usedforsecurity=False).hexdigest().upper()


def state_and_buckets(tmp_path: Path) -> tuple[dict[str, LockEntry], Objects]:
    """Records of every kind (most verified, some as an older version left them) and buckets holding
    exactly what they recorded."""
    jobs = list(expand(manifest(tmp_path, "m.yaml")))
    recs = {}
    for i, (key, rec) in enumerate(recorded(jobs).items()):
        if i % 5 != 2:  # every fifth: written before outputs were verified
            rec = verified(rec, i).evolve(input_etag=etag_of(rec.input))
        recs[key] = rec
    objects: Objects = {}
    for rec in recs.values():
        bucket, _, obj = rec.input.partition("/")
        objects[(bucket, obj)] = (5, etag_of(rec.input))
        if rec.state == "Success":
            for n, (ref, was) in enumerate(rec.observed()):
                objects[at(ref)] = (was[0], was[1]) if was is not None else (7 + n, f"OLD{n}")
    return recs, objects


def findings(r: Refresh) -> dict[str, Any]:
    """What a refresh found, all but when."""
    fields = ("jobs", "outputs", "inputs", "listings", "missing", "changed", "inputs_changed")
    out: dict[str, Any] = {f: getattr(r, f) for f in fields}
    out["drift"] = list(r.drift.items())
    out["record"] = sorted((k, job_id, sorted(f)) for k, (job_id, f) in r.record.items())
    out["missing_outputs"] = dict(r.missing_outputs)
    out["changed_outputs"] = dict(r.changed_outputs)
    return out


def both(data: bytes, objects: Objects, **kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The refresh of the lock file as read (compact lines) and of the same jobs held as records."""
    fast, slow = Bucket(dict(objects)), Bucket(dict(objects))
    got = refresh_state(read(data), lambda: fast, **kw)
    records = StateDoc("l", 1, jobs=read(data).jobs)
    assert records.compact is None
    want = refresh_state(records, lambda: slow, **kw)
    assert fast.calls == slow.calls
    return findings(got), findings(want)


@pytest.mark.parametrize("chunked", [True, False])
def test_lines_read_as_parsed_find_what_the_records_find(tmp_path: Path, chunked: bool) -> None:
    recs, objects = state_and_buckets(tmp_path)
    data = encode("lin", 1, recs)
    got, want = both(data, objects, chunked=chunked)
    assert got == want
    assert got["jobs"] > 10 and not got["drift"] and got["record"]  # the old records: to record

    doc = read(data)
    assert doc.compact is not None
    quick, other = scan(doc.compact, None, _Wanted().group, lambda ref: True)
    plain = {"config", "input", "job_id", "state", "count", "tile_count", "outputs", "seen", "seen_at"}
    usual = [
        k
        for k, line in doc.compact.lines.items()
        if line.get("state") == "Success" and "seen" in line and set(line) <= plain | {"input_etag"}
    ]
    assert len(usual) > 5 and sorted(q.key for q in quick) == sorted(usual)  # read without their records
    finished = {k for k, r in recs.items() if r.state in ("Success", "Fail")}
    assert set(other) == finished - set(usual)

    # Drift of every kind: an output deleted, one rewritten, an input overwritten, an old job's output gone.
    quick_keys = [q.key for q in quick]
    gone = at(recs[quick_keys[0]].outputs[0])
    changed = at(recs[quick_keys[3]].outputs[-1])
    old = next(r for r in recs.values() if r.state == "Success" and r.seen is None and r.outputs)
    moved = dict(objects)
    del moved[gone]
    del moved[at(old.outputs[0])]
    moved[changed] = (objects[changed][0], "NEW")  # same size, another ETag
    new_input = at(recs[quick_keys[5]].input)
    moved[new_input] = (6, "ANOTHER")
    got, want = both(data, moved, chunked=chunked)
    assert got == want
    reasons = dict(got["drift"])
    assert reasons[quick_keys[0]].startswith("output missing: ")
    assert reasons[quick_keys[3]].startswith("output changed: ")
    assert reasons[quick_keys[5]].startswith("input changed: ")
    assert got["missing"] == 2 and got["changed"] == 1 and got["inputs_changed"] >= 1


def test_selected_jobs_and_inputs_known_from_discovery(tmp_path: Path) -> None:
    recs, objects = state_and_buckets(tmp_path)
    data = encode("lin", 1, recs)
    known = {rec.input: (5, "FROM-DISCOVERY") for rec in recs.values()}  # every input overwritten
    got, want = both(data, objects, targets=("*::thumbs",), known_inputs=known)
    assert got == want and got["jobs"] and got["drift"]
    assert all(k.endswith("::thumbs") for k, _ in got["drift"])


@pytest.mark.parametrize(
    "field, value",
    [
        ("seen", [[1]]),
        ("seen", [[-1, "AB"]]),
        ("seen", [[True, "AB"]]),
        ("seen", "AB"),
        ("seen", []),  # not one pair per output
        ("seen_at", "yesterday"),
        ("input_etag", ""),
        ("count", "3"),
        ("job_id", None),
        ("attempts", 2),  # a field the scan does not read: the record's way
    ],
)
def test_an_odd_or_invalid_line_goes_the_records_way(tmp_path: Path, field: str, value: Any) -> None:
    """An odd line is decoded as before: compared from its record when valid, left to the plan (which
    names what is wrong with it) when not; never taken as found."""
    jobs = list(expand(manifest(tmp_path, "m.yaml")))
    recs = {
        j.key: verified(success(j, i), i).evolve(input_etag=etag_of(j.input_ref)) for i, j in enumerate(jobs)
    }
    key = jobs[2].key
    doc = json.loads(encode("lin", 1, recs))
    doc["jobs"][key][field] = value
    bad = read(json.dumps(doc).encode())
    assert bad.compact is not None
    quick, other = scan(bad.compact, None, _Wanted().group, lambda ref: True)
    assert other == [key] and len(quick) == len(jobs) - 1
    objects: Objects = {}
    for rec in recs.values():
        objects[at(rec.input)] = (5, etag_of(rec.input))
        for ref, was in rec.observed():
            assert was is not None
            objects[at(ref)] = (was[0], was[1])
    found = refresh_state(bad, lambda: Bucket(objects))
    valid = bad.compact.decoder.record(key, doc["jobs"][key])
    assert found.jobs == len(jobs) - (0 if isinstance(valid, LockEntry) else 1)
    assert key not in found.drift or isinstance(valid, LockEntry)
