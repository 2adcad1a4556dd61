"""One suite, two backends: the same scenarios on the local engine and on the aliyun backend pointed at
the emulator (the real SDK over real HTTP). Fault scenarios (aliyun only) count jobs from the outside,
in the emulator's journal: every job key must have created exactly one job.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from specrunner.core.errors import BackendError
from specrunner.emulator import Emulator
from specrunner.ops.context import load_context
from specrunner.ops.execute import ApplyOptions, apply
from specrunner.ops.planrequest import PlanRequest
from tests.conftest import Workspace, read_jobs

KEY, SECRET = "LTAIconformance01", "conformance-secret-do-not-leak"
TAG_RE = re.compile(r"(sr-[0-9a-f]{16})$")

TARGETS = {
    "local": "target: {backend: local, root: ./oss}",
    "aliyun": "target: {backend: aliyun, region: cn-shanghai}",
}

BODY = """
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs:
  - videos/a.mp4
  - {id: b, object: "videos/b clip.mp4"}
rules:
  - id: poster
    time: 2s
    width: 80
    output: posters/{FileName}.jpg
  - id: seq
    time: 0
    interval: 1
    num: 3
    width: 80
    frame_type: normal
    user_data: seq-run
    output: seq/{FileName}/{Count}.jpg
  - id: board
    time: 0
    interval: 1
    num: 4
    frame_type: normal
    output: board/{FileName}/{Count}.jpg
    tile: {lines: 2, columns: 2, cell_width: 40, padding: 1, margin: 2, keep_cells: false,
           output: "sprites/{FileName}-{TileCount}.jpg"}
    inputs: ["videos/*"]
"""
JOBS = 5


@dataclass
class World:
    backend: str
    ws: Workspace
    emulator: Emulator | None

    def submits(self) -> list[dict[str, Any]]:
        assert self.emulator is not None
        return [e for e in self.emulator.requests() if e["action"] == "SubmitSnapshotJob"]


def make_world(
    backend: str, ws: Workspace, video: Path, monkeypatch: pytest.MonkeyPatch, **emulator_options: Any
) -> Iterator[World]:
    ws.add_video(video, "videos/a.mp4")
    ws.add_video(video, "videos/b clip.mp4")
    ws.write("version: 1\n" + TARGETS[backend] + BODY)
    if backend == "local":
        yield World(backend, ws, None)
        return
    # The emulator serves the same folders the local engine would use.
    with Emulator(ws.oss, {KEY: SECRET}, journal=ws.dir / "emulator.jsonl", **emulator_options) as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv("SPECRUNNER_OSS_ENDPOINT", em.url)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        yield World(backend, ws, em)


@pytest.fixture(params=["local", "aliyun"])
def world(
    request: pytest.FixtureRequest, tmp_path: Path, video_4s: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    yield from make_world(request.param, Workspace(tmp_path), video_4s, monkeypatch)


def normalized(lock: bytes) -> dict[str, Any]:
    doc = json.loads(lock)
    doc.pop("lineage")
    for rec in doc["jobs"].values():
        rec.pop("job_id")
        rec.pop("seen_at")  # when the outputs were listed (their sizes and ETags must agree)
    return doc


def outputs(ws: Workspace) -> dict[str, str]:
    out = ws.oss / "media-out"
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


# ------------------------------------------------------------------------------ both backends


def test_apply_then_rerun_is_a_byte_identical_noop(world: World) -> None:
    ws = world.ws
    r = ws.cli("plan", ws.manifest, "--out", ws.dir / "m.plan.json", code=0)
    r = ws.cli("apply", ws.manifest, "--auto-approve", "--verbose", code=0)
    assert f"{JOBS} succeeded, 0 failed" in r.stdout
    first = ws.state.read_bytes()
    jobs = ws.jobs()
    assert len(jobs) == JOBS and {rec["state"] for rec in jobs.values()} == {"Success"}
    assert jobs["b::seq"]["count"] == 3 and jobs["videos/a.mp4::board"]["tile_count"] == 4
    for rec in jobs.values():
        assert rec["outputs"]
        for key in rec["outputs"]:
            with Image.open(ws.oss / key) as im:
                im.load()
                assert im.format == "JPEG"
    with Image.open(ws.out("posters/b clip.jpg")) as im:
        assert im.size == (80, 60)
    r2 = ws.cli("apply", ws.manifest, "--auto-approve", code=0)
    assert "0 created" in r2.stdout and f"{JOBS} unchanged" in r2.stdout
    assert ws.state.read_bytes() == first
    if world.emulator is not None:
        submits = world.submits()
        assert len(submits) == JOBS and all(e["status"] == 200 for e in submits)
        assert {e["job_id"] for e in submits} == {rec["job_id"] for rec in jobs.values()}
        assert next(e for e in submits if e["user_data"].startswith("seq-run-"))
        # No secret in the lock file, the plan file, run results, the output or the journal.
        files = [
            ws.state,
            ws.dir / "m.plan.json",
            ws.dir / "emulator.jsonl",
            *(ws.dir / ".specrunner" / "runs").glob("*.json"),
        ]
        for text in [r.output, r2.output] + [f.read_text() for f in files]:
            assert SECRET not in text


def test_local_and_aliyun_give_the_same_lock_file_and_jpgs(
    tmp_path: Path, video_4s: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = {}
    for backend in ("local", "aliyun"):
        ws = Workspace(tmp_path / backend)
        ws.dir.mkdir()
        for _w in make_world(backend, ws, video_4s, monkeypatch):
            ws.cli("apply", ws.manifest, "--auto-approve", code=0)
            results[backend] = (normalized(ws.state.read_bytes()), outputs(ws))
    assert results["local"][0] == results["aliyun"][0]
    assert results["local"][1] == results["aliyun"][1] and len(results["local"][1]) == 2 + 6 + 1


def test_missing_credentials_is_one_line_exit_1(
    tmp_path: Path, video_4s: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace(tmp_path)
    for w in make_world("aliyun", ws, video_4s, monkeypatch):
        monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_ID")
        monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        r = ws.cli("apply", ws.manifest, "--auto-approve", code=1)
        lines = [line for line in r.stderr.splitlines() if line.strip()]  # stdout: the plan shown first
        assert lines[0].startswith(
            "error: no Alibaba Cloud credentials found: set ALIBABA_CLOUD_ACCESS_KEY_ID"
        )
        assert w.submits() == []
        state = ws.jobs() if ws.state.exists() else {}
        assert not any(rec.get("state") == "Success" for rec in state.values())


@pytest.mark.parametrize("problem", ["wrong-secret", "unknown-key", "unreachable"])
def test_bad_credentials_or_endpoint_fail_clearly_and_record_nothing_as_done(
    problem: str, tmp_path: Path, video_4s: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace(tmp_path)
    for w in make_world("aliyun", ws, video_4s, monkeypatch):
        if problem == "wrong-secret":
            monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "not-the-secret-value")
            expect = "the AccessKey secret is wrong, check ALIBABA_CLOUD_ACCESS_KEY_SECRET"
        elif problem == "unknown-key":
            monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIwhoisthis")
            expect = "does not exist (InvalidAccessKeyId.NotFound): check ALIBABA_CLOUD_ACCESS_KEY_ID"
        else:
            w.emulator.stop()  # type: ignore[union-attr]
            expect = "connection refused; check SPECRUNNER_MTS_ENDPOINT"
        ctx = load_context(ws.manifest)
        # The run stops at the first such error (every other call would fail the same way) and
        # raises it: the CLI prints it as one line and exits 1.
        with pytest.raises(BackendError) as err:
            apply(ctx, PlanRequest(), ApplyOptions(parallelism=4, retry_zero_wait=True))
        assert expect in str(err.value)
        assert not ws.state.exists()  # nothing recorded: no job was created
        for text in [str(err.value), *(f.read_text() for f in ws.dir.rglob("*.json"))]:
            assert SECRET not in text and "not-the-secret-value" not in text
        if problem != "unreachable":
            assert not any(e["job_id"] for e in w.emulator.requests())  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ faults (aliyun only)


def many_jobs_manifest(ws: Workspace, n_inputs: int, qps: str = "") -> None:
    inputs = "\n".join(f"  - videos/v{i:03d}.mp4" for i in range(n_inputs))
    ws.write(f"""
        version: 1
        target: {{backend: aliyun, region: cn-shanghai{qps}}}
        defaults: {{location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}}
        inputs:
        {inputs.replace(chr(10), chr(10) + "        ")}
        rules:
          - id: poster
            time: 1s
            output: posters/{{FileName}}.jpg
          - id: seq
            time: 0
            num: 3
            interval: 1
            output: seq/{{FileName}}/{{Count}}.jpg
        """)


def check_exactly_once(em: Emulator, state_path: Path, n_jobs: int) -> dict[str, int]:
    entries = em.requests()
    submits = [e for e in entries if e["action"] == "SubmitSnapshotJob"]
    created = [e for e in submits if e["status"] == 200 or e.get("dropped")]
    per_tag = Counter(TAG_RE.search(e["user_data"]).group(1) for e in created)  # type: ignore[union-attr]
    dups = {t: n for t, n in per_tag.items() if n > 1}
    assert not dups, f"duplicate jobs: {dups}"
    assert len(per_tag) == n_jobs
    jobs = read_jobs(state_path)
    assert len(jobs) == n_jobs and {r["state"] for r in jobs.values()} == {"Success"}
    assert {r["job_id"] for r in jobs.values()} == {e["job_id"] for e in created}
    queries = [e for e in entries if e["action"] == "QuerySnapshotJobList"]
    assert max(e["ids"] for e in queries) <= 10
    return {
        "requests": len(entries),
        "submits": len(submits),
        "created": len(created),
        "throttled": sum(e["code"].startswith("Throttling") for e in entries),
        "5xx": sum((e["status"] or 0) >= 500 for e in entries),
        "dropped": sum(bool(e.get("dropped")) for e in entries),
        "listings": sum(e["ids"] == 0 for e in queries),
        "max_ids": max(e["ids"] for e in queries),
    }


FAULTS = {
    "throttling": dict(throttle_submit_qps=5, throttle_query_qps=5),
    "5xx": dict(error_rate=0.10),
    "drops": dict(drop_rate=0.05),
    "all": dict(throttle_submit_qps=10, throttle_query_qps=10, error_rate=0.10, drop_rate=0.05),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_faults_every_job_succeeds_exactly_once(
    fault: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n_inputs = 10 if fault == "throttling" else 20
    ws = Workspace(tmp_path)
    many_jobs_manifest(ws, n_inputs)
    with Emulator(
        ws.oss, {KEY: SECRET}, simulate=True, simulate_seconds=0.2, seed=1234, **FAULTS[fault]
    ) as em:  # type: ignore[arg-type]
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv("SPECRUNNER_OSS_ENDPOINT", em.url)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        ctx = load_context(ws.manifest)
        outcome = apply(ctx, PlanRequest(), ApplyOptions(parallelism=8, retry_zero_wait=True))
        counts = outcome.summary.counts()
        assert counts["succeeded"] == 2 * n_inputs, (
            counts,
            [(r.key, r.code, r.message) for r in outcome.summary.results.values() if r.status != "success"],
        )
        figures = check_exactly_once(em, ws.state, 2 * n_inputs)
    key = {"throttling": "throttled", "5xx": "5xx", "drops": "dropped"}.get(fault)
    if key:
        assert figures[key] > 0, figures  # the fault really happened


def test_sigkilled_apply_then_rerun_creates_no_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n_inputs = 20
    ws = Workspace(tmp_path)
    many_jobs_manifest(ws, n_inputs)
    with Emulator(ws.oss, {KEY: SECRET}, simulate=True, simulate_seconds=0.2, latency_ms=40) as em:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update(
            SPECRUNNER_MTS_ENDPOINT=em.url,
            SPECRUNNER_OSS_ENDPOINT=em.url,
            ALIBABA_CLOUD_ACCESS_KEY_ID=KEY,
            ALIBABA_CLOUD_ACCESS_KEY_SECRET=SECRET,
        )
        p = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "specrunner",
                "apply",
                str(ws.manifest),
                "-p",
                "4",
                "-q",
                "--auto-approve",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if sum(e["action"] == "SubmitSnapshotJob" for e in em.requests()) >= 8:
                    break
                time.sleep(0.01)
            os.kill(p.pid, signal.SIGKILL)
        finally:
            p.wait()
        before = sum(e["action"] == "SubmitSnapshotJob" for e in em.requests())
        assert 8 <= before < 2 * n_inputs
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv("SPECRUNNER_OSS_ENDPOINT", em.url)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        ctx = load_context(ws.manifest)
        outcome = apply(ctx, PlanRequest(), ApplyOptions(parallelism=8, retry_zero_wait=True))
        assert outcome.summary.counts()["succeeded"] + outcome.summary.counts()["unchanged"] == 2 * n_inputs
        check_exactly_once(em, ws.state, 2 * n_inputs)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SPECRUNNER_SLOW"), reason="set SPECRUNNER_SLOW=1 (about 15 s)")
def test_must_show_200_jobs_throttled_5xx_and_drops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 4, must-show 2: 200 jobs, the emulator throttling at 20 QPS with 10 % 5xx and 5 % dropped
    answers, through the CLI with its real (jittered, backing-off) retry policy."""
    ws = Workspace(tmp_path)
    many_jobs_manifest(ws, 100)
    with Emulator(
        ws.oss,
        {KEY: SECRET},
        simulate=True,
        simulate_seconds=1.0,
        seed=42,
        throttle_submit_qps=20,
        throttle_query_qps=20,
        error_rate=0.10,
        drop_rate=0.05,
        journal=ws.dir / "journal.jsonl",
    ) as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv("SPECRUNNER_OSS_ENDPOINT", em.url)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        started = time.monotonic()
        r = ws.cli("apply", ws.manifest, "--auto-approve", "-q", code=0)
        elapsed = time.monotonic() - started
        assert "200 succeeded, 0 failed" in r.stdout
        figures = check_exactly_once(em, ws.state, 200)
    assert figures["5xx"] > 0 and figures["dropped"] > 0
    with capsys.disabled():
        print(f"\nmust-show 2: {elapsed:.1f} s, {figures}")
