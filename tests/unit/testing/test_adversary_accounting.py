"""The adversary harness's accounting, on hand-made emulator journal entries and final states: a job
created twice is a duplicate, a created id missing from the state is lost, a job of the manifest not
Success (or missing) leaves the run not complete; each is a failed expectation."""

from __future__ import annotations

import json
from typing import Any

from specrunner.statefile.doc import StateDoc
from specrunner.testing.adversary.accounting import created_submits, tally
from specrunner.testing.adversary.figures import Figures
from tests.records import entry


def submit(obj: str, job_id: str | None) -> dict[str, Any]:
    params = {"Input": json.dumps({"Object": obj}), "SnapshotConfig": '{"Time": "0"}'}
    return {"action": "SubmitSnapshotJob", "params": params, "job_id": job_id}


def done(job_id: str) -> Any:
    return entry(fingerprint="sha256:1", mode="sync", state="Success", job_id=job_id)


def test_created_submits_are_the_submits_that_made_a_job() -> None:
    entries = [submit("v/a.mp4", "J1"), submit("v/b.mp4", None), {"action": "QuerySnapshotJobList"}]
    assert created_submits(entries) == [entries[0]]


def test_a_clean_run_is_complete_with_no_duplicates_or_losses() -> None:
    fig = Figures("s", 1)
    doc = StateDoc("L", 1, {"a": done("J1"), "b": done("J2")})
    entries = [submit("v/a.mp4", "J1"), submit("v/b.mp4", "J2"), {"action": "QuerySnapshotJobList"}]
    assert tally(fig, {"a", "b"}, entries, doc) == []
    assert (fig.jobs, fig.created, fig.duplicates, fig.lost, fig.requests, fig.mts) == (2, 2, 0, 0, 3, 3)
    assert fig.finished and fig.ok


def test_a_job_created_twice_is_a_duplicate_and_the_id_the_state_forgot_is_lost() -> None:
    fig = Figures("s", 1)
    doc = StateDoc("L", 1, {"a": done("J2")})
    failures = tally(fig, {"a"}, [submit("v/a.mp4", "J1"), submit("v/a.mp4", "J2")], doc)
    assert (fig.duplicates, fig.lost) == (1, 1)
    assert any("1 duplicate job(s) on the service, e.g. ['v/a.mp4']" in f for f in failures)
    assert any("1 job id(s) created on the service but missing" in f for f in failures)
    assert not fig.ok


def test_a_missing_or_unfinished_job_leaves_the_run_not_complete() -> None:
    fig = Figures("s", 1)
    running = entry(fingerprint="sha256:1", mode="sync", state="Submitted", job_id="J1")
    failures = tally(fig, {"a", "b"}, [submit("v/a.mp4", "J1")], StateDoc("L", 1, {"a": running}))
    assert not fig.finished
    assert any("lacks 1 job(s)" in f for f in failures)
    assert any("1 job(s) not Success" in f for f in failures)
    empty = Figures("s", 1)
    assert tally(empty, {"a"}, [], None) == ["the final state is empty"]
    assert not empty.finished
