"""How the refresh lists (``ops.refresh``): keys grouped under their rule's prefix, prefixes under another
merged, chunks of 1,000 wanted keys; the outcome of a comparison, field by field (no I/O: a lister
that answers from a dict and counts its calls)."""

from __future__ import annotations

from typing import Any

import pytest

from specrunner.backends.listing import Listed
from specrunner.core.record import LockEntry
from specrunner.ops.refresh import CHUNK, RefreshError, _Wanted, refresh_state
from specrunner.statefile.doc import StateDoc


def test_keys_are_grouped_by_prefix_merged_and_chunked() -> None:
    w = _Wanted()
    for i in range(2500):
        w.add("out", "oss-cn-shanghai", "thumbs/", f"thumbs/v{i:05d}/00001.jpg")
    w.add("out", "oss-cn-shanghai", "thumbs/v00001/", "thumbs/v00001/00002.jpg")  # under thumbs/: merged
    w.add("out", "oss-cn-shanghai", "posters/", "posters/a.jpg")
    w.add("in", "oss-cn-shanghai", "videos/", "videos/a.mp4")
    w.add("out", "oss-cn-shanghai", "elsewhere/", "stray/b.jpg")  # not under its prefix: its folder
    calls = w.calls(chunked=True)
    prefixes = [(c[0], c[2]) for c in calls]
    assert prefixes.count(("out", "thumbs/")) == 3  # 2,501 keys: 3 chunks of <= 1,000
    assert ("in", "videos/") in prefixes and ("out", "posters/") in prefixes and ("out", "stray/") in prefixes
    assert len(calls) == 6
    first = next(c for c in calls if c[2] == "thumbs/")
    assert first[3] == "thumbs/v00000/00001.jpg" and first[4] is not None and CHUNK == 1000
    assert all(c[3] is None for c in w.calls(chunked=False)) and len(w.calls(chunked=False)) == 4


def entry(state: str, outputs: tuple[str, ...], **kw: Any) -> LockEntry:
    req = {
        "Input": {"Bucket": "in", "Location": "oss-cn-shanghai", "Object": "videos/a.mp4"},
        "SnapshotConfig": {
            "OutputFile": {
                "Bucket": "out",
                "Location": "oss-cn-shanghai",
                "Object": "s/{FileName}/{Count}.jpg",
            }
        },
    }
    return LockEntry("sha256:x", "async", "in/videos/a.mp4", "r", req, "j1", state, outputs=outputs, **kw)


class Bucket:
    def __init__(
        self, objects: dict[tuple[str, str], tuple[int, str]], fail: Exception | None = None
    ) -> None:
        self.objects, self.fail, self.calls = objects, fail, 0

    def __call__(self, bucket: str, location: str, prefix: str, until: str | None = None) -> list[Listed]:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return [
            Listed(k, *v)
            for (b, k), v in sorted(self.objects.items())
            if b == bucket and k.startswith(prefix)
        ]


OUTS = ("out/s/a/00001.jpg", "out/s/a/00002.jpg")
HERE = {
    ("out", "s/a/00001.jpg"): (10, "AA"),
    ("out", "s/a/00002.jpg"): (11, "BB"),
    ("in", "videos/a.mp4"): (5, "IN"),
}


def check(rec: LockEntry, objects: dict[tuple[str, str], tuple[int, str]]) -> Any:
    b = Bucket(objects)
    return refresh_state(StateDoc("l", 1, {"a::r": rec}), lambda: b, chunked=False), b


def test_as_recorded_missing_changed_and_an_input_changed() -> None:
    seen = ((10, "AA"), (11, "BB"))
    r, b = check(entry("Success", OUTS, seen=seen, input_etag="IN"), HERE)
    assert r.drift == {} and r.record == {} and r.outputs == 2 and r.inputs == 1 and b.calls == 2
    r, _ = check(
        entry("Success", OUTS, seen=seen, input_etag="IN"), {**HERE, ("out", "s/a/00002.jpg"): (11, "CC")}
    )
    assert r.drift == {"a::r": "output changed: s/a/00002.jpg"} and r.changed_outputs == {"a::r": [OUTS[1]]}
    gone = {k: v for k, v in HERE.items() if k[1] != "s/a/00001.jpg"}
    r, _ = check(entry("Success", OUTS, seen=seen, input_etag="IN"), gone)
    assert r.drift == {"a::r": "output missing: s/a/00001.jpg"} and r.missing == 1
    r, _ = check(entry("Fail", (), input_etag="OLD"), HERE)
    assert r.drift == {"a::r": "input changed: in/videos/a.mp4 (ETag OLD -> IN)"}
    r, _ = check(entry("Fail", (), input_etag="OLD"), {k: v for k, v in HERE.items() if k[0] != "in"})
    assert r.drift == {}  # an input that is gone is no change


def test_an_old_record_is_checked_for_existence_and_its_verification_is_to_record() -> None:
    r, _ = check(entry("Success", OUTS), HERE)
    assert r.drift == {} and r.record == {
        "a::r": ("j1", {"input_etag": "IN", "seen": ((10, "AA"), (11, "BB")), "seen_at": r.at})
    }
    r, _ = check(entry("Success", OUTS), {k: v for k, v in HERE.items() if k[1] != "s/a/00002.jpg"})
    assert r.drift == {"a::r": "output missing: s/a/00002.jpg"}


def test_running_jobs_are_not_listed_and_a_failed_listing_is_one_error() -> None:
    r, b = check(entry("Snapshoting", ()), HERE)
    assert b.calls == 0 and r.jobs == 0
    failing = Bucket({}, fail=RuntimeError("403 AccessDenied"))
    with pytest.raises(RefreshError) as e:
        refresh_state(StateDoc("l", 1, {"a::r": entry("Success", OUTS)}), lambda: failing, chunked=False)
    assert "oss:ListObjects" in str(e.value) and "--refresh=false" in (e.value.hint or "")
    assert "oss://" in str(e.value) and "AccessDenied" in str(e.value)


def test_refresh_flag_values() -> None:
    from specrunner.cli.coercion import flag_values

    assert flag_values(["plan", "m.yaml", "--refresh=false"]) == ["plan", "m.yaml", "--no-refresh"]
    assert flag_values(["plan", "m.yaml", "--refresh=True"]) == ["plan", "m.yaml", "--refresh"]
    assert flag_values(["plan", "--", "--refresh=false"]) == ["plan", "--", "--refresh=false"]
    assert flag_values(["plan", "--refresh=maybe"]) == ["plan", "--refresh=maybe"]


def test_an_output_named_by_the_service_only_is_not_checked() -> None:
    """{SnapshotTime} cannot be predicted (keyframes): such a recorded name is neither listed nor
    taken for missing, and the job's verification is not recorded (it could not be complete)."""
    outs = ("out/s/a/{SnapshotTime}.jpg",)
    r, b = check(entry("Success", outs, input_etag="IN"), HERE)
    assert r.drift == {} and r.outputs == 0 and r.record == {} and b.calls == 1  # the input only
