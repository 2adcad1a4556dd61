"""Table tests of the pure core: durations, job expansion, fingerprints, the planner."""

from __future__ import annotations

import pytest

from specrunner.core import durations
from specrunner.core.jobs import expand, split_key
from specrunner.core.plan import TargetError, make_plan, select
from specrunner.validate.manifest import check_document
from specrunner.validate.yamlload import load
from tests.records import entry


def manifest_from(text: str):
    from pathlib import Path

    data, marks = load(text)
    model, diags = check_document(data, marks, "m.yaml", Path("/tmp/m.yaml"))
    assert model is not None, [d.render() for d in diags]
    return model


BASE = """
version: 1
defaults: {location: oss-cn-shanghai, input_bucket: in-b, output_bucket: out-b}
inputs: [v/a.mp4, v/b.mp4]
rules:
  - {id: one, time: 5s, width: 640, output: "p/{FileName}.jpg"}
  - {id: many, time: 0, interval: 10s, num: 3, output: "s/{FileName}/{Count}.jpg"}
  - {id: forced, time: 2s, mode: async, output: "f/{FileName}.jpg"}
"""


@pytest.mark.parametrize(
    "value,expected",
    [
        (0, 0),
        (5000, 5000),
        ("5s", 5000),
        ("1.5s", 1500),
        ("250ms", 250),
        ("2m", 120000),
        ("1h", 3600000),
        ("00:01:30", 90000),
        ("00:01:30.5", 90500),
        ("00:00:00.123", 123),
        ("42", 42),
    ],
)
def test_time_ms(value, expected) -> None:
    assert durations.time_ms(value) == expected


@pytest.mark.parametrize(
    "value,expected", [(10, 10), ("10s", 10), ("1m", 60), (0, 0), ("2000ms", 2), ("3", 3)]
)
def test_interval_s(value, expected) -> None:
    assert durations.interval_s(value) == expected


@pytest.mark.parametrize("value", ["1500ms", "0.5s", "soon", "-1s", True, 1.5])
def test_interval_rejects(value) -> None:
    with pytest.raises(durations.DurationError):
        durations.interval_s(value)


def test_expand_modes_requests_and_keys() -> None:
    jobs = {j.key: j for j in expand(manifest_from(BASE))}
    assert sorted(jobs) == sorted(f"v/{i}.mp4::{r}" for i in "ab" for r in ("one", "many", "forced"))
    one = jobs["v/a.mp4::one"]
    assert one.mode == "sync"
    assert one.request == {
        "Input": {"Bucket": "in-b", "Location": "oss-cn-shanghai", "Object": "v%2Fa.mp4"},
        "SnapshotConfig": {
            "OutputFile": {
                "Bucket": "out-b",
                "Location": "oss-cn-shanghai",
                "Object": "p%2F%7BFileName%7D.jpg",
            },
            "Time": "5000",
            "FrameType": "intra",
            "Width": "640",
        },
    }
    many = jobs["v/a.mp4::many"]
    assert many.mode == "async"
    assert many.request["SnapshotConfig"]["Interval"] == "10" and many.request["SnapshotConfig"]["Num"] == "3"
    forced = jobs["v/b.mp4::forced"]
    assert forced.mode == "async" and forced.request["SnapshotConfig"]["Num"] == "1"
    assert split_key("v/a.mp4::one") == ("v/a.mp4", "one")


def test_fingerprint_changes_only_with_the_request() -> None:
    a = {j.key: j.fingerprint for j in expand(manifest_from(BASE))}
    b = {j.key: j.fingerprint for j in expand(manifest_from(BASE.replace("width: 640", "width: 320")))}
    c = {j.key: j.fingerprint for j in expand(manifest_from(BASE.replace("time: 5s", "time: 5000")))}
    assert {k for k in a if a[k] != b[k]} == {"v/a.mp4::one", "v/b.mp4::one"}
    assert a == c  # same request, written differently


def rec(job, state="Success", job_id="j1", **kw):
    r = {
        "fingerprint": job.fingerprint,
        "mode": job.mode,
        "state": state,
        "job_id": job_id,
        "request": job.request,
        "code": kw.pop("code", ""),
        "message": "",
    }
    r.update(kw)
    return entry(r)


def test_planner_table() -> None:
    jobs = expand(manifest_from(BASE))
    by = {j.key: j for j in jobs}
    other = expand(manifest_from(BASE.replace("width: 640", "width: 320")))
    o = {j.key: j for j in other}
    state = {
        "v/a.mp4::one": rec(o["v/a.mp4::one"]),  # changed -> replace
        "v/b.mp4::one": rec(by["v/b.mp4::one"]),  # same, Success -> noop
        "v/a.mp4::many": rec(by["v/a.mp4::many"], state="Snapshoting"),  # running -> resume
        "v/b.mp4::many": rec(by["v/b.mp4::many"], state="Fail", code="InternalError"),  # -> retry
        "v/a.mp4::forced": rec(
            by["v/a.mp4::forced"],
            state=None,
            job_id=None,
            intent={"tag": "sr-1", "since": "2026-01-01T00:00:00Z"},
        ),  # -> resume (recover)
        "v/gone.mp4::one": rec(by["v/a.mp4::one"]),  # not in the manifest -> forget
    }
    plan = make_plan(jobs, state)
    actions = {c.key: c.action for c in plan.changes}
    assert actions == {
        "v/a.mp4::one": "replace",
        "v/b.mp4::one": "noop",
        "v/a.mp4::many": "poll",
        "v/b.mp4::many": "retry",
        "v/a.mp4::forced": "recover",
        "v/b.mp4::forced": "create",
        "v/gone.mp4::one": "forget",
    }
    reasons = {c.key: c.reason for c in plan.changes}
    assert "width: 320 -> 640" in reasons["v/a.mp4::one"]
    assert "InternalError" in reasons["v/b.mp4::many"]
    assert "tag" in reasons["v/a.mp4::forced"]
    assert {c.key: c.shown for c in plan.changes if c.action in ("poll", "recover")} == {
        "v/a.mp4::many": "resume",
        "v/a.mp4::forced": "resume",
    }
    assert plan.counts() == {
        "create": 1,
        "replace": 1,
        "retry": 1,
        "resume": 2,
        "forget": 1,
        "failed": 0,
        "noop": 1,
        "poll": 1,
        "recover": 1,
    }
    assert make_plan(jobs, {j.key: rec(j) for j in jobs}).has_changes is False


def test_sync_timeout_replans_async_and_then_stays_async() -> None:
    jobs = expand(manifest_from(BASE))
    one = next(j for j in jobs if j.key == "v/a.mp4::one")
    plan = make_plan([one], {one.key: rec(one, state="Fail", code="SnapshotTimeOut")})
    (c,) = plan.changes
    assert c.action == "retry" and c.mode == "async" and "SnapshotTimeOut" in c.reason
    assert c.job.request["SnapshotConfig"]["Num"] == "1"
    plan = make_plan([one], {one.key: rec(c.job, fallback="SnapshotTimeOut")})
    assert plan.changes[0].action == "noop"
    # A rule that was `mode: async` and is now `mode: auto` goes back to sync (no fallback recorded).
    plan = make_plan([one], {one.key: rec(c.job)})
    assert plan.changes[0].action == "replace" and plan.changes[0].mode == "sync"


@pytest.mark.parametrize(
    "targets,excludes,expected",
    [
        ((), (), {"a::x", "a::y", "b::x"}),
        (("x",), (), {"a::x", "b::x"}),
        (("a",), (), {"a::x", "a::y"}),
        (("a::y",), (), {"a::y"}),
        ((), ("b*",), {"a::x", "a::y"}),
        (("x",), ("a",), {"b::x"}),
    ],
)
def test_select(targets, excludes, expected) -> None:
    assert select(["a::x", "a::y", "b::x"], targets, excludes) == expected


def test_expand_fingerprints_equal_the_reference_function() -> None:
    from specrunner.core.jobs import fingerprint

    text = BASE.replace(
        "- {id: many", "- {id: many, user_data: ud-1, pipeline_id: b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
    )
    for job in expand(manifest_from(text)):
        assert job.fingerprint == fingerprint(job.request, job.user_data), job.key


def test_replace_submits_the_named_jobs_again_whatever_their_state() -> None:
    jobs = expand(manifest_from(BASE))
    by = {j.key: j for j in jobs}
    state = {k: rec(j) for k, j in by.items()}  # every job recorded Success: all noop
    state["v/a.mp4::many"] = rec(by["v/a.mp4::many"], state="Snapshoting", job_id="j9")
    state["v/b.mp4::one"] = rec(by["v/b.mp4::one"], state="Fail", code="InvalidParameter")  # failed for good
    plan = make_plan(jobs, state, replace=["one", "v/a.mp4::many"])  # a rule id and a job key
    got = {c.key: (c.action, c.reason) for c in plan.changes}
    assert got["v/a.mp4::one"] == ("replace", "replaced on request (--replace)")
    assert got["v/b.mp4::one"][0] == "replace"  # not "failed": asked for by name
    assert got["v/a.mp4::many"] == (
        "replace",
        "replaced on request (--replace); job j9 is still Snapshoting: it is left to finish",
    )
    assert all(
        a == "noop" for k, (a, _) in got.items() if k not in ("v/a.mp4::one", "v/b.mp4::one", "v/a.mp4::many")
    )
    assert all(c.job is not None and c.prior is not None for c in plan.by_action("replace"))
    with pytest.raises(TargetError, match="--replace 'nope' matches no job"):
        make_plan(jobs, state, replace=["nope"])
    # a job not recorded yet is simply created; one only in the state is forgotten, not replaced
    fresh = make_plan(jobs, {}, replace=["one"])
    assert {c.action for c in fresh.changes} == {"create"}
