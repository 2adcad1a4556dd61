"""The verbs run on any state backend: ``ops`` reaches the state only through ``StateBackend`` and
``JobStore`` (``statefile.backend``), so an apply on the in-memory state of ``tests.fakes`` behaves
as on a file or in OSS: planned under the lock, journaled, committed once, a rerun a no-op."""

from __future__ import annotations

from pathlib import Path

import pytest

from specrunner.core.errors import SpecrunnerError
from specrunner.ops.context import load_context
from specrunner.ops.execute import ApplyOptions, apply
from specrunner.ops.planrequest import PlanRequest, compute_plan
from specrunner.ops.records import state_remove
from tests.fakes import FakeBackend, MemoryBackend

MANIFEST = """version: 1
defaults: {location: oss-cn-shanghai, input_bucket: in-b, output_bucket: out-b}
target: {backend: aliyun, region: cn-shanghai}
inputs: [v/a.mp4, v/b.mp4]
rules:
  - {id: poster, time: 5s, mode: sync, output: "p/{FileName}.jpg"}
  - {id: later, time: 0, num: 3, interval: 1s, output: "s/{FileName}/{Count}.jpg"}
"""


def context(tmp_path: Path, home: MemoryBackend):  # type: ignore[no-untyped-def]
    m = tmp_path / "m.yaml"
    m.write_text(MANIFEST)
    ctx = load_context(m)
    ctx.where, ctx.state = home, home.read()  # the state lives in memory, nowhere on disk
    return ctx


def test_apply_plans_journals_and_commits_through_the_state_interface(tmp_path: Path) -> None:
    home, be = MemoryBackend(), FakeBackend()
    out = apply(
        context(tmp_path, home), PlanRequest(refresh=False), ApplyOptions(retry_zero_wait=True), backend=be
    )
    assert out.state_changed and out.summary.counts()["created"] == 4 and len(be.submits) == 4
    doc = home.read()
    assert doc is not None and doc.serial == 1 and home.holder is None  # committed once, lock released
    assert {e.status for e in doc.jobs.values()} == {"Success"}
    assert not list(tmp_path.glob("*.lock.json*"))  # nothing written beside the manifest
    again = context(tmp_path, home)
    assert compute_plan(again, PlanRequest(refresh=False)).counts()["noop"] == 4
    rerun = apply(
        again, PlanRequest(refresh=False), ApplyOptions(retry_zero_wait=True), backend=FakeBackend()
    )
    assert not rerun.state_changed and home.read().serial == 1  # type: ignore[union-attr]


def test_state_rm_goes_through_the_same_interface(tmp_path: Path) -> None:
    home = MemoryBackend()
    apply(
        context(tmp_path, home),
        PlanRequest(refresh=False),
        ApplyOptions(retry_zero_wait=True),
        backend=FakeBackend(),
    )
    assert state_remove(home, ["v/a.mp4::poster"]) == ["v/a.mp4::poster"]
    doc = home.read()
    assert doc is not None and "v/a.mp4::poster" not in doc.jobs and doc.serial == 2
    with pytest.raises(SpecrunnerError, match="not in the state"):
        state_remove(home, ["v/a.mp4::poster"])
    assert home.holder is None  # released after the refusal too
