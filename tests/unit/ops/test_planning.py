"""The rule-by-rule planner (``ops.planning``) plans exactly what ``make_plan`` plans from full records.

Real manifests, real records (the executor's own record builders), real lock file bytes: the lock file
is encoded, read back as a format 2 file (its lines not yet decoded) and planned both ways.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from specrunner.apply.outcomes import outcome_record
from specrunner.backends.base import RemoteJob
from specrunner.core.errors import StateError
from specrunner.core.jobs import Job, expand
from specrunner.core.plan import Plan, make_plan
from specrunner.core.record import LockEntry
from specrunner.core.record import job_entry as job_record
from specrunner.ops.planning import plan_jobs
from specrunner.statefile.codec import encode
from specrunner.statefile.doc import StateDoc, decode_state
from specrunner.validate.manifest import load_manifest

HEAD = """version: 1
target: {backend: aliyun, region: cn-shanghai, pipeline_id: a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs:
  - videos/a.mp4
  - videos/b.mp4
  - {id: pct, object: "videos/100%% real.mp4"}
  - {id: far, object: "%(far)s", bucket: other-in}
  - {id: uni, object: "视频/开幕 式.mp4"}
%(extra)s
rules:
  - id: poster
    time: 5s
    width: %(width)s
    output: "posters/{ObjectPrefix}{FileName}.jpg"
  - id: legacy
    time: 1s
    output: "legacy/{FileName}.jpg"
  - id: thumbs
    time: 0
    interval: 1s
    num: 3
    frame_type: normal
    user_data: "team-media"
    output: "thumbs/{FileName}/{Count}.jpg"
  - id: board
    time: 0
    interval: 2s
    num: 4
    frame_type: normal
    output: "boards/{FileName}/{Count}.jpg"
    tile: {lines: 2, columns: 2, keep_cells: false, output: "sprites/{FileName}-{TileCount}.jpg"}
    inputs: ["videos/*"]
"""


def manifest(
    tmp_path: Path, name: str, *, width: int = 640, extra: str = "", far: str = "clips/c.mov"
) -> Any:
    path = tmp_path / name
    path.write_text(HEAD % {"width": width, "extra": extra, "far": far})
    return load_manifest(path)


def success(job: Job, i: int) -> LockEntry:
    cfg = job.request["SnapshotConfig"]
    count = int(cfg.get("Num", "1"))
    remote = RemoteJob(
        id=f"{i:032x}",
        state="Success",
        code="",
        message="",
        count=count,
        tile_count=count if "TileOut" in cfg else 0,
        raw={},
    )
    return outcome_record(job, remote)


def recorded(jobs: list[Job]) -> dict[str, LockEntry]:
    """A record per job, of every kind apply leaves behind, by position."""
    out: dict[str, LockEntry] = {}
    for i, job in enumerate(jobs):
        kind = i % 11
        if kind == 3:
            rec = job_record(job, job_id=f"{i:032x}", state="Fail", code="InvalidParameter", message="bad")
        elif kind == 4:
            rec = job_record(job, job_id=f"{i:032x}", state="Fail", code="InternalError", message="try later")
        elif kind == 5:
            rec = job_record(job, {"tag": f"sr-{i:016x}", "since": "2026-11-25T10:00:00Z"})
        elif kind == 6:
            rec = job_record(job, job_id=f"{i:032x}", state="Snapshoting")
        elif kind == 7:  # finished, its intent kept
            rec = success(job, i).evolve(intent={"tag": f"sr-{i:016x}", "since": "2026-11-25T10:00:00Z"})
        elif kind == 8 and job.auto_mode and job.single_frame:  # timed out in sync, ran async
            rec = success(job.as_async("SnapshotTimeOut"), i)
        elif kind == 9 and job.legacy:  # written by an earlier version: its own fingerprint
            rec = success(job, i).evolve(fingerprint=job.legacy_fingerprint())
        elif kind == 10 and "%" not in job.input_ref:  # an earlier version recorded the key encoded
            rec = success(job, i)
            req = rec.request
            rec = rec.evolve(
                request={**req, "Input": {**req["Input"], "Object": quote(req["Input"]["Object"], safe="")}}
            )
        else:
            rec = success(job, i)
        out[job.key] = rec
    return out


def read(data: bytes) -> StateDoc:
    doc = decode_state(data, Path("m.lock.json"))
    assert doc.compact is not None  # read as is: lines not decoded yet
    return doc


def both(jobs_of: Any, data: bytes, **kw: Any) -> tuple[Plan, Plan, StateDoc]:
    doc = read(data)
    fast = plan_jobs(expand(jobs_of), doc, **kw)
    slow = make_plan(list(expand(jobs_of)), read(data).jobs, **kw)
    return fast, slow, doc


def same(fast: Plan, slow: Plan) -> None:
    def rows(p: Plan) -> list[tuple[Any, ...]]:
        return [(c.key, c.action, c.reason, c.mode, c.job, c.prior, c.diff) for c in p.changes]

    assert fast.counts() == slow.counts()
    assert fast.has_changes == slow.has_changes
    assert fast.recorded() == slow.recorded()
    assert rows(fast) == rows(slow)
    for action in ("create", "replace", "retry", "resume", "forget", "failed", "noop"):
        assert [c.key for c in fast.by_action(action)] == [c.key for c in slow.by_action(action)]


def test_every_kind_of_record_is_planned_as_from_full_records(tmp_path: Path) -> None:
    m = manifest(tmp_path, "m.yaml")
    data = encode("lin", 3, recorded(list(expand(m))))
    fast, slow, doc = both(m, data)
    same(fast, slow)
    counts = fast.counts()
    assert counts["noop"] and counts["retry"] and counts["failed"] and counts["resume"]
    # The plain successes were settled from their lines: neither their records nor changes were built.
    assert len(fast.active) < len(fast.changes) - 5
    assert doc.compact is not None


def test_changed_rules_new_and_dropped_inputs(tmp_path: Path) -> None:
    before = manifest(tmp_path, "a.yaml", extra="  - videos/gone.mp4")
    data = encode("lin", 3, recorded(list(expand(before))))
    after = manifest(tmp_path, "b.yaml", width=480, extra="  - videos/new.mp4", far="clips/c2.mov")
    fast, slow, _ = both(after, data)
    same(fast, slow)
    assert {c.key for c in fast.by_action("replace") if c.key.startswith("far::")} == {
        "far::legacy",
        "far::poster",
        "far::thumbs",
    }
    c = fast.counts()
    assert c["create"] and c["replace"] and c["forget"] and c["noop"]
    assert any(ch.diff for ch in fast.by_action("replace"))


def test_a_fully_applied_state_is_a_noop_without_decoding_a_record(tmp_path: Path) -> None:
    m = manifest(tmp_path, "m.yaml")
    jobs = list(expand(m))
    data = encode("lin", 1, {j.key: success(j, i) for i, j in enumerate(jobs)})
    fast, slow, doc = both(m, data)
    assert fast.active == () and fast.counts()["noop"] == len(jobs) and not fast.has_changes
    assert doc.compact is not None
    same(fast, slow)


def test_selections_plan_the_same(tmp_path: Path) -> None:
    m = manifest(tmp_path, "m.yaml")
    data = encode("lin", 3, recorded(list(expand(m))))
    for kw in ({"targets": ("poster",)}, {"excludes": ("videos/*",)}, {"only_failed": True}):
        fast, slow, _ = both(m, data, **kw)
        same(fast, slow)


@pytest.mark.parametrize(
    "field, value",
    [("count", -1), ("job_id", 7), ("outputs", "x.jpg"), ("tile_count", "2"), ("color", "red")],
)
def test_an_invalid_line_is_refused_as_when_decoding(tmp_path: Path, field: str, value: Any) -> None:
    m = manifest(tmp_path, "m.yaml")
    jobs = list(expand(m))
    data = encode("lin", 1, {j.key: success(j, i) for i, j in enumerate(jobs)})
    key = jobs[2].key
    doc = json.loads(data)
    doc["jobs"][key][field] = value
    bad = json.dumps(doc).encode()
    with pytest.raises(StateError) as slow:
        _ = read(bad).jobs
    with pytest.raises(StateError) as fast:
        plan_jobs(expand(m), read(bad))
    assert str(fast.value) == str(slow.value) and key in str(fast.value)


def test_a_rule_half_applied_with_its_new_config(tmp_path: Path) -> None:
    """Two configs of one rule in the lock file: only the jobs naming today's are up to date."""
    before, after = manifest(tmp_path, "a.yaml"), manifest(tmp_path, "b.yaml", width=480)
    old = {j.key: success(j, i) for i, j in enumerate(expand(before))}
    new = {j.key: success(j, i) for i, j in enumerate(expand(after)) if j.input_id in ("videos/a.mp4", "far")}
    data = encode("lin", 2, {**old, **new})
    fast, slow, _ = both(after, data)
    same(fast, slow)
    replaced = {c.key for c in fast.by_action("replace")}
    assert replaced and all(k.endswith("::poster") for k in replaced)
    assert replaced == {k for k in old if k.endswith("::poster") and k not in new}
    assert len(replaced) == 3


def verified(rec: LockEntry, i: int) -> LockEntry:
    """The record as apply leaves it since outputs are verified: sizes and ETags, the input's ETag."""
    seen = tuple((100 + n, f"{i:08X}{n:024X}") for n in range(len(rec.outputs)))
    return rec.evolve(seen=seen or None, seen_at="2026-12-07T10:00:00Z", input_etag=f"{i:032X}")


def test_verified_records_and_drift_are_planned_as_from_full_records(tmp_path: Path) -> None:
    """Lines carrying seen / seen_at / input_etag are still settled from their lines; the refresh's
    findings (drift) replace those jobs, a failed one too (not retried), both ways alike."""
    m = manifest(tmp_path, "m.yaml")
    jobs = list(expand(m))
    recs = {k: verified(r, i) if i % 2 else r for i, (k, r) in enumerate(recorded(jobs).items())}
    data = encode("lin", 3, recs)
    assert b'"seen": [[' in data and b'"input_etag": "' in data
    fast, slow, doc = both(m, data)
    same(fast, slow)
    assert len(fast.active) < len(fast.changes) - 5 and doc.compact is not None
    success = next(k for k, r in recs.items() if r.state == "Success" and r.seen)
    failed = next(k for k, r in recs.items() if r.state == "Fail" and r.code == "InvalidParameter")
    drift = {success: "output missing: posters/a.jpg", failed: "input changed: media-in/videos/a.mp4"}
    fast, slow, _ = both(m, data, drift=drift)
    same(fast, slow)
    changes = {c.key: c for c in fast.changes}
    for key, reason in drift.items():
        assert changes[key].action == "replace" and changes[key].reason == reason


@pytest.mark.parametrize(
    "field, value",
    [("seen", [[1]]), ("seen", [[-1, "AB"]]), ("seen_at", "yesterday"), ("input_etag", "")],
)
def test_an_invalid_verification_is_refused_as_when_decoding(tmp_path: Path, field: str, value: Any) -> None:
    m = manifest(tmp_path, "m.yaml")
    jobs = list(expand(m))
    data = encode("lin", 1, {j.key: verified(success(j, i), i) for i, j in enumerate(jobs)})
    key = jobs[2].key
    doc = json.loads(data)
    doc["jobs"][key][field] = value
    bad = json.dumps(doc).encode()
    with pytest.raises(StateError) as slow:
        _ = read(bad).jobs
    with pytest.raises(StateError) as fast:
        plan_jobs(expand(m), read(bad))
    assert str(fast.value) == str(slow.value) and key in str(fast.value) and field in str(fast.value)


def test_retry_runs_a_failed_job_whose_input_changed(tmp_path: Path) -> None:
    m = manifest(tmp_path, "m.yaml")
    jobs = list(expand(m))
    recs = recorded(jobs)
    failed = next(k for k, r in recs.items() if r.state == "Fail" and r.code == "InvalidParameter")
    plan = make_plan(jobs, recs, only_failed=True, drift={failed: "input changed: x"})
    assert failed in {c.key for c in plan.by_action("replace")}
    assert failed in {c.key for c in make_plan(jobs, recs, only_failed=True).by_action("retry")}
