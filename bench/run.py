#!/usr/bin/env python3
"""specrunner benchmarks: specrunner against what a user has, side by side, in one run.

    .venv/bin/python bench/run.py            # the full run (about 4 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # tiny sizes, ~20 s (the smoke mode)
    .venv/bin/python bench/run.py --only noop,memory

Prints one line per figure -- ``name | specrunner | baseline | ratio | goal | PASS/MISS`` -- and
writes ``bench/out/results.json`` (bench/out is git-ignored). Absolute times on shared machines
are noise; the ratios are what counts. bench/README.md explains every figure.

Everything heavy runs in fresh subprocesses (this file re-invoked with ``--worker KIND``), so
timings, CPU time and peak RSS belong to that one operation. The MTS emulator always runs in
its own process (``specrunner emulator --simulate``), so its CPU never counts as the runner's.
Exit status: 0 when every figure was measured (whatever PASS/MISS says; ``--strict`` makes a
MISS exit 2), 1 when a measurement failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
WORK = OUT / "work"
CACHE = OUT / "cache"
PY = sys.executable
AK, SK = "benchAK", "benchSecret"
REGION = "cn-shanghai"
FIGURES = ("throughput", "noop", "validate", "stateio", "cpu", "engine", "memory")


# ============================================================================== sizes


@dataclass(frozen=True)
class Sizes:
    tp_inputs: int  # (1) and (5): inputs x tp_rules async jobs (num: 2)
    tp_rules: int
    tp_job_seconds: float  # (1d) how long a simulated async job takes to finish
    noop_inputs: int  # (2) inputs x noop_rules jobs, fully applied
    noop_rules: int
    validate_inputs: int  # (3)
    io_inputs: int  # (4) inputs x io_rules jobs applied against the emulator
    io_rules: int
    video_s: int  # (6) the test video
    video_w: int
    video_h: int
    reps: int  # (6) best of N


FULL = Sizes(
    tp_inputs=100,
    tp_rules=10,
    tp_job_seconds=10.0,
    noop_inputs=1000,
    noop_rules=100,
    validate_inputs=10_000,
    io_inputs=100,
    io_rules=100,
    video_s=60,
    video_w=1280,
    video_h=720,
    reps=3,
)
QUICK = Sizes(
    tp_inputs=10,
    tp_rules=5,
    tp_job_seconds=2.0,
    noop_inputs=100,
    noop_rules=10,
    validate_inputs=500,
    io_inputs=20,
    io_rules=10,
    video_s=2,
    video_w=320,
    video_h=240,
    reps=1,
)

LATENCY_MS = 30  # (1): per-request latency injected by the emulator
LIMIT_SUBMIT, LIMIT_QUERY = 50.0, 100.0  # the account limits the emulator enforces (Throttling.User)


# ============================================================================== results


@dataclass
class Row:
    name: str
    spec: float | None  # specrunner's value
    base: float | None  # the baseline's value
    unit: str
    base_unit: str
    ratio: float | None
    goal: str  # e.g. ">= 0.95"; "" = reported only
    ok: bool | None  # None: no goal
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        def fmt(v: float | None, unit: str) -> str:
            if v is None:
                return "-"
            if unit == "%":
                return f"{v:.2f} %"
            if abs(v) >= 100:
                s = f"{v:,.0f}"
            elif abs(v) >= 10:
                s = f"{v:.1f}"
            else:
                s = f"{v:.3g}"
            return f"{s} {unit}".strip()

        status = "-" if self.ok is None else ("PASS" if self.ok else "MISS")
        ratio = "-" if self.ratio is None else f"{self.ratio:.3g}"
        return " | ".join(
            [
                self.name,
                fmt(self.spec, self.unit),
                fmt(self.base, self.base_unit),
                ratio,
                self.goal or "-",
                status,
            ]
        )


def check(value: float | None, goal: str) -> bool | None:
    if value is None or not goal:
        return None
    op, num = goal.split()
    target = float(num.rstrip("%x"))
    return value >= target if op == ">=" else value <= target


ROWS: list[Row] = []
SWEEP: list[dict[str, Any]] = []


def emit(row: Row) -> None:
    ROWS.append(row)
    print(row.line(), flush=True)
    if row.note:
        print(f"    note: {row.note}", flush=True)


def say(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)


# ============================================================================== manifests


def header(backend: str, qps: tuple[float, float] = (LIMIT_SUBMIT, LIMIT_QUERY)) -> str:
    if backend == "aliyun":
        target = (
            f"target:\n  backend: aliyun\n  region: {REGION}\n"
            f"  qps: {{submit: {qps[0]:g}, query: {qps[1]:g}}}\n"
        )
    else:
        target = "target: {backend: local, root: ./oss}\n"
    return (
        "# yaml-language-server: $schema=../../../schemas/manifest.v1.json\nversion: 1\n"
        + target
        + "defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}\n"
    )


def inputs_yaml(n: int) -> str:
    lines = ["inputs:"]
    for i in range(n):
        if i % 10 == 9:  # some long-form entries, as real manifests have
            lines.append(f'  - {{id: clip{i:05d}, object: "videos/day {i // 100:03d}/clip {i:05d}.mp4"}}')
        else:
            lines.append(f"  - videos/v{i:05d}.mp4")
    return "\n".join(lines) + "\n"


def async_rules(n: int) -> str:
    """(1): async jobs, two snapshots each."""
    out = ["rules:"]
    for r in range(n):
        out += [
            f"  - id: r{r:03d}",
            f"    time: {r}s",
            "    interval: 1",
            "    num: 2",
            "    width: 320",
            f'    output: "r{r:03d}/{{ObjectPrefix}}{{FileName}}/{{Count}}.jpg"',
        ]
    return "\n".join(out) + "\n"


def mixed_rules(n: int) -> str:
    """(2)-(4): a realistic mix: sync posters, async sequences, storyboards with sprites, async singles."""
    out = ["rules:"]
    for r in range(n):
        rid = f"r{r:03d}"
        kind = r % 4
        out += [f"  - id: {rid}"]
        if kind == 0:
            out += [
                f"    time: {r % 50}s",
                "    width: 640",
                f'    output: "{rid}/{{ObjectPrefix}}{{FileName}}.jpg"',
            ]
        elif kind == 1:
            out += [
                "    time: 0",
                "    interval: 1",
                "    num: 5",
                "    width: 320",
                "    frame_type: normal",
                f'    output: "{rid}/{{ObjectPrefix}}{{FileName}}/{{Count}}.jpg"',
            ]
        elif kind == 2:
            out += [
                "    time: 0",
                "    interval: 2",
                "    num: 20",
                "    frame_type: intra",
                f'    output: "{rid}/{{ObjectPrefix}}{{FileName}}/{{Count}}.jpg"',
                "    tile: {lines: 4, columns: 5, cell_width: 160, padding: 2, margin: 4, color: black,",
                f'           keep_cells: false, output: "sprites/{rid}/'
                '{ObjectPrefix}{FileName}-{TileCount}.jpg"}',
            ]
        else:
            out += [
                "    time: 1500ms",
                "    mode: async",
                "    width: 480",
                f'    output: "{rid}/{{ObjectPrefix}}{{FileName}}.jpg"',
            ]
    return "\n".join(out) + "\n"


def write_manifest(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(text)
    return p


def write_applied_state(manifest: Path) -> tuple[Path, int]:
    """The lock file of a fully applied manifest, written directly (no service involved).

    Records are built by the executor's own ``outcome_record`` from the job and a remote job in
    state Success (Count = Num, TileCount = Count when tiled: what the simulated service answers),
    and written with the state module's own encoder: byte-for-byte what ``apply`` would commit,
    minus the job ids, which are random here as they are on the service.
    """
    from specrunner.apply.outcomes import outcome_record
    from specrunner.backends.base import RemoteJob
    from specrunner.core.jobs import expand
    from specrunner.statefile.doc import StateDoc, default_state_path, encode_state
    from specrunner.statefile.files import atomic_write
    from specrunner.validate.manifest import load_manifest

    jobs = expand(load_manifest(manifest))
    recs = {}
    for job in jobs:
        cfg = job.request["SnapshotConfig"]
        count = int(cfg.get("Num", "1"))
        remote = RemoteJob(
            id=uuid.uuid4().hex, state="Success", count=count, tile_count=count if "TileOut" in cfg else 0
        )
        recs[job.key] = outcome_record(job, remote)
    doc = StateDoc(str(uuid.uuid4()), 1, recs)
    path = default_state_path(manifest)
    atomic_write(path, encode_state(doc))
    return path, len(jobs)


# ============================================================================== subprocess plumbing


# Subprocesses run in WORK, never in the repo: `python -m specrunner` puts the current directory
# first on sys.path, which would shadow a tree given with PYTHONPATH (A/B runs of two trees).


def bench_env(endpoint: str | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy") and not k.startswith(("ALIBABA_CLOUD_", "ALIYUN_"))
    }
    env.pop("SPECRUNNER_MTS_ENDPOINT", None)
    env["ALIBABA_CLOUD_ACCESS_KEY_ID"] = AK
    env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = SK
    env["HOME"] = str(WORK / "home")  # no aliyun CLI profile of the developer's
    # Bytecode cached outside the source tree, as an installed specrunner has it (pip compiles a wheel's
    # modules): a timed process never pays for compiling specrunner's sources (with the bytecode off,
    # ~20 ms of a validate of the demo and ~55 ms of a plan), and no __pycache__ lands in the repo.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(OUT / "pycache")
    env.pop("SPECRUNNER_OSS_ENDPOINT", None)
    if endpoint:
        env["SPECRUNNER_MTS_ENDPOINT"] = endpoint
        env["SPECRUNNER_OSS_ENDPOINT"] = endpoint  # the emulator serves OSS on the same port
    return env


def worker(
    kind: str, args: dict[str, Any], *, endpoint: str | None = None, timeout: float = 900
) -> dict[str, Any]:
    """Run ``kind`` in a fresh interpreter; returns its JSON answer plus ``process_seconds`` (wall)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [PY, str(Path(__file__).resolve()), "--worker", kind, json.dumps(args)],
        capture_output=True,
        text=True,
        env=bench_env(endpoint),
        timeout=timeout,
        cwd=WORK,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"worker {kind} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    result = json.loads(lines[-1])
    result["process_seconds"] = wall
    return result


class EmulatorProc:
    """``specrunner emulator --simulate`` in its own process; its journal is a JSON-lines file."""

    def __init__(
        self,
        name: str,
        *,
        latency_ms: float = 0,
        submit_qps: float | None = None,
        query_qps: float | None = None,
        simulate_seconds: float = 0.0,
    ) -> None:
        self.dir = WORK / "emulators" / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.journal = self.dir / "journal.jsonl"
        cmd = [
            PY,
            "-m",
            "specrunner",
            "emulator",
            "--root",
            str(self.dir / "oss"),
            "--key",
            f"{AK}:{SK}",
            "--port",
            "0",
            "--simulate",
            "--journal",
            str(self.journal),
            "--latency-ms",
            str(latency_ms),
            "--simulate-seconds",
            str(simulate_seconds),
        ]
        if submit_qps:
            cmd += ["--throttle-submit-qps", str(submit_qps)]
        if query_qps:
            cmd += ["--throttle-query-qps", str(query_qps)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=bench_env(), cwd=WORK
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        m = re.search(r"listening on (http://\S+)", line)
        if not m:
            self.stop()
            raise RuntimeError(
                f"the emulator did not start: {line!r} {self.proc.stderr.read() if self.proc.stderr else ''}"
            )
        self.url = m.group(1)

    def entries(self) -> list[dict[str, Any]]:
        if not self.journal.exists():
            return []
        return [json.loads(ln) for ln in self.journal.read_text().splitlines() if ln.strip()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> EmulatorProc:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def throttle_stats(entries: list[dict[str, Any]]) -> dict[str, Any]:
    total = len(entries)
    throttled = sum(1 for e in entries if str(e.get("code", "")).startswith("Throttling"))
    by_action: dict[str, int] = {}
    for e in entries:
        by_action[e.get("action", "")] = by_action.get(e.get("action", ""), 0) + 1
    return {
        "requests": total,
        "throttled": throttled,
        "share": throttled / total if total else 0.0,
        "by_action": by_action,
    }


# ============================================================================== workers (child side)


def _rss_mb() -> float:
    """Peak RSS of this process (VmHWM). Not ru_maxrss: Linux carries that across execve, so a
    child would report its parent's peak whenever the parent was the larger."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _cpu_split() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


class _Profile:
    """cProfile around a block when ``path`` is set (the top 40 by cumulative time, as text)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.prof: Any = None

    def __enter__(self) -> _Profile:
        if self.path:
            import cProfile

            self.prof = cProfile.Profile()
            self.prof.enable()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.prof is not None:
            import io
            import pstats

            self.prof.disable()
            buf = io.StringIO()
            st = pstats.Stats(self.prof, stream=buf)
            st.sort_stats("cumulative").print_stats(40)
            st.sort_stats("tottime").print_stats(25)
            Path(self.path).write_text(buf.getvalue())


def w_floor(a: dict[str, Any]) -> dict[str, Any]:
    """The floor: read and parse the manifest YAML (libyaml) and, if given, the lock file JSON."""
    import yaml

    t0 = time.perf_counter()
    with open(a["manifest"], encoding="utf-8") as f:
        doc = yaml.load(f.read(), Loader=yaml.CSafeLoader)
    t1 = time.perf_counter()
    lock = None
    if a.get("lock"):
        lock = json.loads(Path(a["lock"]).read_bytes())
    t2 = time.perf_counter()
    return {
        "seconds": t2 - t0,
        "yaml_seconds": t1 - t0,
        "json_seconds": t2 - t1,
        "rss_mb": _rss_mb(),
        "inputs": len(doc["inputs"]),
        "jobs_in_lock": len(lock["jobs"]) if lock else None,
    }


def w_plan(a: dict[str, Any]) -> dict[str, Any]:
    from specrunner.ops.context import load_context
    from specrunner.ops.planrequest import PlanRequest, compute_plan

    with _Profile(a.get("profile")):
        t0 = time.perf_counter()
        ctx = load_context(a["manifest"])
        t1 = time.perf_counter()
        # the refresh (issue 22) is measured by bench/refresh.py; here the plan from the state as recorded
        plan = compute_plan(ctx, PlanRequest(refresh=a.get("refresh", False)))
        t2 = time.perf_counter()
    return {
        "seconds": t2 - t0,
        "load_context_seconds": t1 - t0,
        "compute_plan_seconds": t2 - t1,
        "refresh": ctx.refreshed.summary() if ctx.refreshed is not None else None,
        "refresh_open_seconds": ctx.refreshed.open_seconds if ctx.refreshed is not None else 0.0,
        "refresh_list_seconds": ctx.refreshed.list_seconds if ctx.refreshed is not None else 0.0,
        "counts": plan.counts(),
        "jobs": len(ctx.jobs),
        "rss_mb": _rss_mb(),
    }


def w_validate(a: dict[str, Any]) -> dict[str, Any]:
    """`specrunner validate MANIFEST`, run in-process (the typer command itself, output captured)."""
    from typer.testing import CliRunner

    import specrunner.core.jobs
    import specrunner.validate.manifest  # noqa: F401
    from specrunner.cli.main import cli
    from specrunner.validate.manifest import check_manifest

    runner = CliRunner()
    with _Profile(a.get("profile")):
        t0 = time.perf_counter()
        res = runner.invoke(cli, ["validate", a["manifest"]], catch_exceptions=False)
        t1 = time.perf_counter()
    t2 = time.perf_counter()
    _model, _diags = check_manifest(a["manifest"])  # again, warm: the share of check_manifest
    t3 = time.perf_counter()
    return {
        "seconds": t1 - t0,
        "check_seconds": t3 - t2,
        "exit_code": res.exit_code,
        "output": res.output.strip()[-300:],
        "rss_mb": _rss_mb(),
    }


def w_apply(a: dict[str, Any]) -> dict[str, Any]:
    """ops.execute.apply as the CLI runs it (then the run-results file written); with ``whole``,
    load_context (manifest, expansion, state) is timed too."""
    import specrunner.backends.aliyun  # noqa: F401 - the SDK's import is start-up, as in the loop worker
    from specrunner.ops.context import load_context
    from specrunner.ops.execute import ApplyOptions, apply
    from specrunner.ops.planrequest import PlanRequest
    from specrunner.render.json import write_run_results

    opts = ApplyOptions(parallelism=a.get("parallelism", 10))
    ctx = None if a.get("whole") else load_context(a["manifest"])
    with _Profile(a.get("profile")):
        u0, s0 = _cpu_split()
        t0 = time.perf_counter()
        if ctx is None:
            ctx = load_context(a["manifest"])
        out = apply(ctx, PlanRequest(refresh=a.get("refresh", False)), opts)
        out.run_file = write_run_results(ctx, out)
        t1 = time.perf_counter()
        u1, s1 = _cpu_split()
    lock = Path(ctx.state_path)
    return {
        "seconds": t1 - t0,
        "run_seconds": out.summary.elapsed,
        "cpu_seconds": (u1 - u0) + (s1 - s0),
        "cpu_user_seconds": u1 - u0,
        "cpu_sys_seconds": s1 - s0,
        "state_bytes": out.state_bytes,
        "lock_bytes": lock.stat().st_size if lock.exists() else 0,
        "counts": out.summary.counts(),
        "exit_code": out.exit_code(),
        "jobs": len(ctx.jobs),
        "rss_mb": _rss_mb(),
        "lock": str(lock),
    }


def w_loop(a: dict[str, Any]) -> dict[str, Any]:
    """The plain sequential loop over aliyun-python-sdk-mts that users write today.

    Submit every job (sleeping 1 s and resending on Throttling, the usual hand-written handling),
    then poll QuerySnapshotJobList with <= 10 ids per call until every job is Success or Fail.
    The requests are the very ones specrunner sends (taken from the manifest before timing).
    """
    from urllib.parse import urlsplit

    from aliyunsdkcore.acs_exception.exceptions import ServerException
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkmts.request.v20140618.QuerySnapshotJobListRequest import QuerySnapshotJobListRequest
    from aliyunsdkmts.request.v20140618.SubmitSnapshotJobRequest import SubmitSnapshotJobRequest

    from specrunner.core.jobs import expand
    from specrunner.validate.manifest import load_manifest

    jobs = expand(load_manifest(a["manifest"]))
    ep = urlsplit(os.environ["SPECRUNNER_MTS_ENDPOINT"])
    client = AcsClient(
        os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"], os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"], REGION
    )
    throttled = 0

    def call(req: Any) -> dict[str, Any]:
        nonlocal throttled
        req.set_endpoint(ep.netloc)
        req.set_protocol_type(ep.scheme)
        while True:
            try:
                return json.loads(client.do_action_with_exception(req))
            except ServerException as e:
                if str(e.get_error_code()).startswith("Throttling"):
                    throttled += 1
                    time.sleep(1)
                    continue
                raise

    pace = float(a.get("qps") or 0)  # Submits per second at most, as specrunner's target.qps paces them
    u0, s0 = _cpu_split()
    t0 = time.perf_counter()
    due = time.monotonic()
    ids = []
    for job in jobs:
        if pace:
            due += 1 / pace
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
        req = SubmitSnapshotJobRequest()
        req.set_Input(json.dumps(job.request["Input"]))
        req.set_SnapshotConfig(json.dumps(job.request["SnapshotConfig"]))
        ids.append(call(req)["SnapshotJob"]["Id"])
    pending = list(ids)
    states: dict[str, str] = {}
    while pending:
        still = []
        for i in range(0, len(pending), 10):
            req = QuerySnapshotJobListRequest()
            req.set_SnapshotJobIds(",".join(pending[i : i + 10]))
            for j in call(req)["SnapshotJobList"]["SnapshotJob"]:
                states[j["Id"]] = j["State"]
                if j["State"] not in ("Success", "Fail"):
                    still.append(j["Id"])
        pending = still
        if pending:
            time.sleep(1)
    t1 = time.perf_counter()
    u1, s1 = _cpu_split()
    return {
        "seconds": t1 - t0,
        "cpu_seconds": (u1 - u0) + (s1 - s0),
        "cpu_user_seconds": u1 - u0,
        "cpu_sys_seconds": s1 - s0,
        "jobs": len(jobs),
        "throttled_client_seen": throttled,
        "succeeded": sum(1 for s in states.values() if s == "Success"),
        "rss_mb": _rss_mb(),
    }


WORKERS = {"floor": w_floor, "plan": w_plan, "validate": w_validate, "apply": w_apply, "loop": w_loop}


# ============================================================================== figures (parent side)


def fig_throughput(sz: Sizes, args: argparse.Namespace, want_cpu: bool, want_tp: bool) -> None:
    """(1) apply throughput vs the physical limit and vs the plain loop; (5) CPU per job."""
    folder = WORK / "throughput"
    qps = (args.qps_submit, args.qps_query)
    text = header("aliyun", qps) + inputs_yaml(sz.tp_inputs) + async_rules(sz.tp_rules)
    manifest = write_manifest(folder, "tp.yaml", text)
    njobs = sz.tp_inputs * sz.tp_rules

    def run_spec(name: str, **em: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        for p in folder.glob("tp.lock.json*"):
            p.unlink()
        with EmulatorProc(name, **em) as emu:
            r = worker(
                "apply", {"manifest": str(manifest), "parallelism": args.parallelism}, endpoint=emu.url
            )
            entries = emu.entries()
            stats = throttle_stats(entries)
            stamps = [
                datetime.strptime(e["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
                for e in entries
                if e.get("action") == "SubmitSnapshotJob" and e.get("status") == 200
            ]
            stats["submit_window_seconds"] = max(stamps) - min(stamps) if len(stamps) > 1 else None
            return r, stats

    def run_loop(name: str, qps: float | None = None, **em: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        with EmulatorProc(name, **em) as emu:
            r = worker("loop", {"manifest": str(manifest), "qps": qps}, endpoint=emu.url)
            return r, throttle_stats(emu.entries())

    if want_tp:
        limits = dict(latency_ms=LATENCY_MS, submit_qps=LIMIT_SUBMIT, query_qps=LIMIT_QUERY)
        say(
            f"(1) apply of {njobs} async jobs, 30 ms latency, "
            f"throttling {LIMIT_SUBMIT:g}/{LIMIT_QUERY:g} QPS, "
            f"target.qps {qps[0]:g}/{qps[1]:g}"
        )
        spec, st = run_spec("tp-specrunner", **limits)
        if spec["counts"]["succeeded"] != njobs:
            raise RuntimeError(f"apply did not succeed on every job: {spec['counts']}")
        say(f"(1) the plain SDK loop over the same {njobs} jobs")
        loop, lt = run_loop("tp-loop", **limits)
        if loop["succeeded"] != njobs:
            raise RuntimeError(f"the loop did not finish every job: {loop}")
        jps, ljps = njobs / spec["seconds"], njobs / loop["seconds"]
        common = {
            "jobs": njobs,
            "target_qps": list(qps),
            "parallelism": args.parallelism,
            "specrunner": {**spec, "journal": st},
            "loop": {**loop, "journal": lt},
        }
        emit(
            Row(
                "1a apply throughput / Submit limit",
                jps,
                LIMIT_SUBMIT,
                "jobs/s",
                "jobs/s (limit)",
                jps / LIMIT_SUBMIT,
                ">= 0.95",
                check(jps / LIMIT_SUBMIT, ">= 0.95"),
                details=common,
            )
        )
        emit(
            Row(
                "1b throttled requests (emulator journal)",
                st["share"] * 100,
                lt["share"] * 100,
                "%",
                "%",
                None,
                "<= 1%",
                check(st["share"] * 100, "<= 1%"),
                note=f"specrunner {st['throttled']}/{st['requests']} requests, "
                f"loop {lt['throttled']}/{lt['requests']}",
            )
        )
        emit(
            Row(
                "1c apply throughput / plain SDK loop",
                jps,
                ljps,
                "jobs/s",
                "jobs/s",
                jps / ljps,
                ">= 1.5",
                check(jps / ljps, ">= 1.5"),
            )
        )
        # The same, with jobs that take sz.tp_job_seconds to finish as real ones do (simulate=True answers
        # Snapshoting until then): polling must not slow the submissions down.
        say(f"(1) again with jobs that take {sz.tp_job_seconds:g} s to finish")
        slow, sst = run_spec("tp-slowjobs", **limits, simulate_seconds=sz.tp_job_seconds)
        if slow["counts"]["succeeded"] != njobs:
            raise RuntimeError(f"apply did not succeed on every job: {slow['counts']}")
        window = sst["submit_window_seconds"] or slow["seconds"]
        rate = (njobs - 1) / window
        ideal = njobs / LIMIT_SUBMIT + sz.tp_job_seconds
        emit(
            Row(
                f"1d Submit rate with {sz.tp_job_seconds:g} s jobs / Submit limit",
                rate,
                LIMIT_SUBMIT,
                "jobs/s",
                "jobs/s (limit)",
                rate / LIMIT_SUBMIT,
                ">= 0.95",
                check(rate / LIMIT_SUBMIT, ">= 0.95"),
                note=f"first to last Submit {window:.1f} s; "
                f"apply {slow['seconds']:.1f} s vs ideal {ideal:.1f} s "
                f"(N/limit + job time); {sst['by_action'].get('QuerySnapshotJobList', 0)} queries, "
                f"{sst['throttled']} throttled",
                details={"specrunner": slow, "journal": sst},
            )
        )

    if want_tp and args.sweep:
        # What target.qps should be: aim below, at or above the account limit, and watch both figures.
        sweep = []
        for qs in args.sweep:
            text = (
                header("aliyun", (qs, args.qps_query)) + inputs_yaml(sz.tp_inputs) + async_rules(sz.tp_rules)
            )
            write_manifest(folder, "tp.yaml", text)
            say(f"(1) sweep: target.qps.submit {qs:g}")
            r, t = run_spec(
                f"sweep-{qs:g}", latency_ms=LATENCY_MS, submit_qps=LIMIT_SUBMIT, query_qps=LIMIT_QUERY
            )
            jps = njobs / r["seconds"]
            sweep.append(
                {
                    "qps_submit": qs,
                    "jobs_per_s": jps,
                    "vs_limit": jps / LIMIT_SUBMIT,
                    "throttled_share": t["share"],
                    "requests": t["requests"],
                    "throttled": t["throttled"],
                    "succeeded": r["counts"]["succeeded"],
                }
            )
            print(
                f"    sweep: target.qps.submit {qs:>5g} -> {jps:5.1f} jobs/s "
                f"({jps / LIMIT_SUBMIT:.3f} of the limit), "
                f"throttled {t['throttled']}/{t['requests']} ({t['share'] * 100:.2f} %)",
                flush=True,
            )
        SWEEP.extend(sweep)
        write_manifest(
            folder, "tp.yaml", header("aliyun", qps) + inputs_yaml(sz.tp_inputs) + async_rules(sz.tp_rules)
        )

    if want_cpu:
        # Both sides unpaced: the runner with a target.qps far above what it reaches, the loop as it is.
        # A process that sleeps between requests pays for every wake-up with cold caches (on a shared
        # 2-core machine the plain SDK loop itself takes about 2x the CPU per request when paced at
        # 50/s), so the runner paced at target.qps beside the unpaced loop compared two conditions.
        # The paced pair (both at target.qps.submit, what a run against the account limit does) is
        # measured too and shown in the note.
        say(f"(5) CPU per job: the same {njobs} jobs at zero latency, no throttling, unpaced")
        fast = write_manifest(
            folder,
            "cpu.yaml",
            header("aliyun", (10_000, 10_000)) + inputs_yaml(sz.tp_inputs) + async_rules(sz.tp_rules),
        )
        for p in folder.glob("cpu.lock.json*"):
            p.unlink()
        with EmulatorProc("cpu-specrunner") as emu:
            spec0 = worker(
                "apply", {"manifest": str(fast), "parallelism": args.parallelism}, endpoint=emu.url
            )
        loop0, _ = run_loop("cpu-loop")
        say(f"(5) again, both paced at {qps[0]:g} Submits/s")
        spec1, _ = run_spec("cpu-specrunner-paced")
        loop1, _ = run_loop("cpu-loop-paced", qps=qps[0])
        a, b = spec0["cpu_seconds"] / njobs * 1000, loop0["cpu_seconds"] / njobs * 1000
        pa, pb = spec1["cpu_seconds"] / njobs * 1000, loop1["cpu_seconds"] / njobs * 1000
        emit(
            Row(
                "5  runner CPU per job (zero latency)",
                a,
                b,
                "ms/job",
                "ms/job (loop)",
                a / b,
                "<= 1.5",
                check(a / b, "<= 1.5"),
                note=f"unpaced: specrunner {spec0['seconds']:.2f} s wall, loop {loop0['seconds']:.2f} s; "
                f"both paced at {qps[0]:g} Submits/s: specrunner {pa:.2f} ms/job, loop {pb:.2f} ms/job "
                f"({pa / pb:.2f}x)",
                details={"specrunner": spec0, "loop": loop0, "specrunner_paced": spec1, "loop_paced": loop1},
            )
        )


def fig_noop(sz: Sizes, args: argparse.Namespace, memory: dict[str, Any]) -> None:
    """(2) a no-op rerun of plan over a fully applied manifest: time vs parsing YAML + lock JSON."""
    folder = WORK / "noop"
    shutil.rmtree(folder, ignore_errors=True)
    text = header("aliyun", (1000, 1000)) + inputs_yaml(sz.noop_inputs) + mixed_rules(sz.noop_rules)
    manifest = write_manifest(folder, "noop.yaml", text)
    say(f"(2) writing the applied state of {sz.noop_inputs} x {sz.noop_rules} jobs")
    lock, njobs = write_applied_state(manifest)
    with EmulatorProc("noop") as emu:
        before = len(emu.entries())
        runs = [worker("plan", {"manifest": str(manifest)}, endpoint=emu.url) for _ in range(args.plan_reps)]
        if args.profile:
            worker(
                "plan",
                {"manifest": str(manifest), "profile": str(OUT / "profile-noop-plan.txt")},
                endpoint=emu.url,
            )
        calls = len(emu.entries()) - before
        say("(2) the same rerun as `apply` (load_context + apply)")
        noop_apply = worker("apply", {"manifest": str(manifest), "whole": True}, endpoint=emu.url)
        apply_calls = len(emu.entries()) - before - calls
        if args.profile:
            worker(
                "apply",
                {"manifest": str(manifest), "whole": True, "profile": str(OUT / "profile-noop-apply.txt")},
                endpoint=emu.url,
            )
    floors = [worker("floor", {"manifest": str(manifest), "lock": str(lock)}) for _ in range(args.plan_reps)]
    plan = min(runs, key=lambda r: r["seconds"])
    floor = min(floors, key=lambda r: r["seconds"])
    if plan["counts"]["noop"] != njobs or sum(plan["counts"].values()) != njobs:
        raise RuntimeError(f"the rerun is not a no-op: {plan['counts']}")
    ratio = plan["seconds"] / floor["seconds"]
    ok = check(ratio, "<= 3") and calls == 0
    emit(
        Row(
            "2  no-op plan / parse YAML+lock",
            plan["seconds"],
            floor["seconds"],
            "s",
            "s",
            ratio,
            "<= 3",
            ok,
            note=f"{njobs:,} jobs, lock file {lock.stat().st_size / 1e6:.1f} MB, {calls} API calls "
            f"(emulator journal); load_context {plan['load_context_seconds']:.2f} s + compute_plan "
            f"{plan['compute_plan_seconds']:.2f} s; "
            f"process wall incl. start-up {plan['process_seconds']:.2f} s "
            f"vs {floor['process_seconds']:.2f} s",
            details={
                "jobs": njobs,
                "api_calls": calls,
                "lock_bytes": lock.stat().st_size,
                "plan_runs": runs,
                "floor_runs": floors,
                "state": "written directly (see write_applied_state)",
            },
        )
    )
    aratio = noop_apply["seconds"] / floor["seconds"]
    if noop_apply["counts"]["unchanged"] != njobs:
        raise RuntimeError(f"the apply rerun is not a no-op: {noop_apply['counts']}")
    emit(
        Row(
            "2b no-op apply / parse YAML+lock",
            noop_apply["seconds"],
            floor["seconds"],
            "s",
            "s",
            aratio,
            "<= 3",
            check(aratio, "<= 3") and apply_calls == 0,
            note=f"same {njobs:,} jobs through load_context + apply: "
            f"{apply_calls} API calls, lock file "
            f"{'rewritten' if noop_apply['state_bytes'] else 'untouched'} "
            f"({noop_apply['state_bytes']:,} state bytes written)",
            details={"apply": noop_apply, "api_calls": apply_calls},
        )
    )
    memory["noop"] = (plan, floor, njobs)


def fig_validate(sz: Sizes, args: argparse.Namespace) -> None:
    """(3) validation of a large manifest vs the bare YAML parse."""
    folder = WORK / "validate"
    text = header("local") + inputs_yaml(sz.validate_inputs) + mixed_rules(4)
    manifest = write_manifest(folder, "big.yaml", text)
    say(f"(3) validating {sz.validate_inputs} inputs x 4 rules")
    runs = [worker("validate", {"manifest": str(manifest)}) for _ in range(args.plan_reps)]
    if args.profile:
        worker("validate", {"manifest": str(manifest), "profile": str(OUT / "profile-validate.txt")})
    floors = [worker("floor", {"manifest": str(manifest)}) for _ in range(args.plan_reps)]
    v = min(runs, key=lambda r: r["seconds"])
    f = min(floors, key=lambda r: r["seconds"])
    if v["exit_code"] != 0:
        raise RuntimeError(f"the benchmark manifest is invalid: {v['output']}")
    # The CLI itself, once, for the record (interpreter start-up and imports included).
    t0 = time.perf_counter()
    cp = subprocess.run(
        [PY, "-m", "specrunner", "validate", str(manifest)],
        capture_output=True,
        text=True,
        env=bench_env(),
        cwd=WORK,
    )
    cli = time.perf_counter() - t0
    ratio = v["seconds"] / f["seconds"]
    emit(
        Row(
            "3  validate / bare YAML parse",
            v["seconds"],
            f["seconds"],
            "s",
            "s",
            ratio,
            "<= 10",
            check(ratio, "<= 10"),
            note=f"{sz.validate_inputs:,} inputs x 4 rules; "
            f"of which check_manifest {v['check_seconds']:.2f} s; "
            f"`specrunner validate` process {cli:.2f} s incl. start-up (exit {cp.returncode}): "
            f"{v['output'].splitlines()[-1] if v['output'] else ''}",
            details={"runs": runs, "floor_runs": floors, "cli_seconds": cli, "cli_exit": cp.returncode},
        )
    )


def fig_stateio(sz: Sizes, args: argparse.Namespace, memory: dict[str, Any]) -> None:
    """(4) bytes written for state during an apply vs the final lock file size."""
    folder = WORK / "stateio"
    shutil.rmtree(folder, ignore_errors=True)
    text = header("aliyun", (10000, 10000)) + inputs_yaml(sz.io_inputs) + mixed_rules(sz.io_rules)
    manifest = write_manifest(folder, "io.yaml", text)
    njobs = sz.io_inputs * sz.io_rules
    say(f"(4) apply of {njobs} jobs against the emulator (no latency, no throttling)")
    with EmulatorProc("stateio") as emu:
        r = worker("apply", {"manifest": str(manifest), "parallelism": args.parallelism}, endpoint=emu.url)
        requests = len(emu.entries())
    if r["counts"]["succeeded"] != njobs:
        raise RuntimeError(f"apply did not succeed on every job: {r['counts']}")
    ratio = r["state_bytes"] / r["lock_bytes"]
    emit(
        Row(
            "4  state bytes written / final lock size",
            r["state_bytes"] / 1e6,
            r["lock_bytes"] / 1e6,
            "MB",
            "MB",
            ratio,
            "<= 4",
            check(ratio, "<= 4"),
            note=f"{njobs:,} jobs, {requests:,} API calls, apply {r['seconds']:.1f} s",
            details=r,
        )
    )
    floor = worker("floor", {"manifest": str(manifest), "lock": r["lock"]})
    memory["stateio"] = (r, floor, njobs)


def fig_memory(memory: dict[str, Any]) -> None:
    """(7) peak RSS of the (2) plan and (4) apply processes vs a process that only parses their inputs."""
    for key, label in (("noop", "7a peak RSS: no-op plan"), ("stateio", "7b peak RSS: apply")):
        if key not in memory:
            continue
        run, floor, njobs = memory[key]
        ratio = run["rss_mb"] / floor["rss_mb"]
        emit(
            Row(
                f"{label} ({njobs:,} jobs) / parse floor",
                run["rss_mb"],
                floor["rss_mb"],
                "MB",
                "MB",
                ratio,
                "<= 3",
                check(ratio, "<= 3"),
                note=f"{(run['rss_mb'] - floor['rss_mb']) * 1024 / njobs:.1f} KB per job above the floor",
                details={"run_rss_mb": run["rss_mb"], "floor_rss_mb": floor["rss_mb"], "jobs": njobs},
            )
        )


# ------------------------------------------------------------------------------ (6) engine vs ffmpeg


def ensure_ffmpeg(install: bool = True) -> tuple[str | None, str]:
    """Debian's ffmpeg, installed here (and only here) if missing. Returns (path, note)."""
    found = shutil.which("ffmpeg")
    if found:
        return found, ""
    if not install:
        return None, (
            "ffmpeg is not installed and --quick does not install it (the full run does: "
            "apt-get install -y ffmpeg)"
        )
    if not shutil.which("apt-get"):
        return None, "ffmpeg is not installed and apt-get is not available"
    if os.geteuid() != 0:
        return None, "ffmpeg is not installed and installing it needs root (apt-get install -y ffmpeg)"
    say("(6) installing Debian's ffmpeg (apt-get update && apt-get install -y ffmpeg)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "ffmpeg"]):
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if p.returncode != 0:
            return None, f"`{' '.join(cmd)}` failed: {(p.stderr or p.stdout).strip().splitlines()[-1:]}"
    found = shutil.which("ffmpeg")
    return found, "" if found else "apt-get install ffmpeg did not provide an ffmpeg binary"


def _video(sz: Sizes) -> Path:
    from specrunner.testing.video import make_video

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"video-{sz.video_s}s-{sz.video_w}x{sz.video_h}-gop50.mp4"
    if not path.exists():
        say(f"(6) making the {sz.video_s} s {sz.video_w}x{sz.video_h} test video (cached in {path.parent})")
        tmp = path.with_suffix(".part.mp4")
        make_video(tmp, duration_s=sz.video_s, fps=25, width=sz.video_w, height=sz.video_h, gop=50)
        tmp.replace(path)
    return path


def _best(reps: int, fn: Any) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(reps):
        t0 = time.perf_counter()
        res = fn()
        dt = time.perf_counter() - t0
        if dt < best:
            best, out = dt, res
    return best, out


def _stamps(files: list[Path]) -> list[int | str]:
    from PIL import Image

    from specrunner.testing.video import read_stamp

    out: list[int | str] = []
    for f in files:
        try:
            with Image.open(f) as im:
                out.append(read_stamp(im))
        except Exception as e:
            out.append(f"unreadable: {e}")
    return out


def _sprite_stamps(
    path: Path, lines: int, columns: int, cell: tuple[int, int], margin: int, padding: int, n: int
) -> list[int | str]:
    from PIL import Image

    from specrunner.testing.video import read_stamp

    out: list[int | str] = []
    with Image.open(path) as im:
        im.load()
        for k in range(n):
            r, c = divmod(k, columns)
            x, y = margin + c * (cell[0] + padding), margin + r * (cell[1] + padding)
            try:
                out.append(read_stamp(im.crop((x, y, x + cell[0], y + cell[1]))))
            except Exception as e:
                out.append(f"unreadable: {e}")
    return out


def fig_engine(sz: Sizes, args: argparse.Namespace) -> None:
    """(6) the local engine's frame cutter vs the ffmpeg CLI, same snapshots from the same video."""
    ff, why = ensure_ffmpeg(install=not args.quick)
    if ff is None:
        for n in ("6a", "6b", "6c"):
            emit(
                Row(
                    f"{n} engine vs ffmpeg",
                    None,
                    None,
                    "s",
                    "s",
                    None,
                    "<= 1.0",
                    None,
                    note=f"SKIPPED: {why}",
                )
            )
        return
    from specrunner.engine.frames import cut, probe
    from specrunner.engine.jpeg import encode_jpeg
    from specrunner.engine.points import capture_points
    from specrunner.engine.spec import SnapshotSpec, TileSpec
    from specrunner.engine.sprites import build_sprites

    video = _video(sz)
    fps = 25
    duration_ms, vw, vh = probe(video)
    nframes = duration_ms * fps // 1000
    folder = WORK / "engine"
    shutil.rmtree(folder, ignore_errors=True)
    width = min(640, vw)
    q = ["-q:v", "2"]  # ffmpeg's JPEG quality close to the engine's quality 90
    base = [ff, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]

    def ffrun(cmd: list[str]) -> None:
        p = subprocess.run(base + cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"ffmpeg failed: {p.stderr.strip()[-500:]}")

    def fresh(name: str) -> Path:
        d = folder / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d

    ver = subprocess.run([ff, "-version"], capture_output=True, text=True).stdout.splitlines()[0]

    # (a) single frames at 10 times, on the frame grid (40 ms) so both tools mean the same frame:
    # MTS/normal takes the last frame with pts <= t, ffmpeg's accurate -ss the first with pts >= t.
    frames_a = sorted({min(nframes - 1, int((k + 0.13 + 0.07 * k) * nframes / 10)) for k in range(10)})
    times = [f * 1000 // fps for f in frames_a]

    def eng_a() -> list[Path]:
        d = fresh("eng-a")
        outs = []
        for t in times:
            res = cut(video, SnapshotSpec(time_ms=t, width=width, frame_type="normal"))
            p = d / f"{t}.jpg"
            p.write_bytes(encode_jpeg(res.frames[0].image))
            outs.append(p)
        return outs

    def ff_a() -> list[Path]:
        d = fresh("ff-a")
        outs = []
        for t in times:
            p = d / f"{t}.jpg"
            ffrun(
                [
                    "-ss",
                    f"{t / 1000:.3f}",
                    "-i",
                    str(video),
                    "-frames:v",
                    "1",
                    "-vf",
                    f"scale={width}:-1",
                    *q,
                    str(p),
                ]
            )
            outs.append(p)
        return outs

    # (b) a 20-frame interval sequence (Interval = duration/20 whole seconds, or 0 = spread evenly).
    interval = sz.video_s // 20 if sz.video_s >= 20 else 0
    seq_spec = SnapshotSpec(time_ms=0, interval_s=interval, num=20, width=width, frame_type="normal")
    frames_b = [p * fps // 1000 for p in capture_points(seq_spec, duration_ms)]
    select = "select='" + "+".join(f"eq(n\\,{f})" for f in frames_b) + "'"

    def eng_b() -> list[Path]:
        d = fresh("eng-b")
        res = cut(video, seq_spec)
        outs = []
        for fr in res.frames:
            p = d / f"{fr.index:05d}.jpg"
            p.write_bytes(encode_jpeg(fr.image))
            outs.append(p)
        return outs

    def ff_b() -> list[Path]:
        d = fresh("ff-b")
        ffrun(
            [
                "-i",
                str(video),
                "-vf",
                f"{select},scale={width}:-1",
                "-fps_mode",
                "vfr",
                *q,
                str(d / "%05d.jpg"),
            ]
        )
        return sorted(d.iterdir())

    # (c) a 4x5 sprite of the same 20 points, 160 px cells, padding 2, margin 4.
    cw = 160
    ch = max(1, round(cw * vh / vw))
    tile = TileSpec(lines=4, columns=5, cell_width=cw, margin=4, padding=2, color="black", keep_cells=False)
    spr_spec = SnapshotSpec(time_ms=0, interval_s=interval, num=20, width=cw, frame_type="normal", tile=tile)

    def eng_c() -> Path:
        d = fresh("eng-c")
        res = cut(video, spr_spec)
        p = d / "sprite.jpg"
        p.write_bytes(encode_jpeg(build_sprites(res.frames, tile)[0]))
        return p

    def ff_c() -> Path:
        d = fresh("ff-c")
        p = d / "sprite.jpg"
        ffrun(
            [
                "-i",
                str(video),
                "-vf",
                f"{select},scale={cw}:-1,tile=5x4:margin=4:padding=2:color=black",
                "-frames:v",
                "1",
                "-fps_mode",
                "vfr",
                *q,
                str(p),
            ]
        )
        return p

    say(f"(6) engine vs {ver}: best of {sz.reps}")
    cases = [
        ("6a engine/ffmpeg: 10 single frames", eng_a, ff_a, frames_a, lambda outs: _stamps(outs)),
        ("6b engine/ffmpeg: 20-frame sequence", eng_b, ff_b, frames_b, lambda outs: _stamps(outs)),
        (
            "6c engine/ffmpeg: 4x5 sprite",
            eng_c,
            ff_c,
            frames_b,
            lambda p: _sprite_stamps(p, 4, 5, (cw, ch), 4, 2, 20),
        ),
    ]
    for name, eng, ffm, expected, stamps in cases:
        te, oe = _best(sz.reps, eng)
        tf, of = _best(sz.reps, ffm)
        se, sf = stamps(oe), stamps(of)
        match = se == sf == list(expected)
        ratio = te / tf
        ok = check(ratio, "<= 1.0") and match
        diff = "" if match else f"; engine frames {se}, ffmpeg frames {sf}, expected {list(expected)}"
        emit(
            Row(
                name,
                te,
                tf,
                "s",
                "s",
                ratio,
                "<= 1.0",
                ok,
                note=f"frames {'match' if match else 'DIFFER'} ({len(expected)} stamps read back){diff}",
                details={
                    "engine_stamps": se,
                    "ffmpeg_stamps": sf,
                    "expected": list(expected),
                    "ffmpeg": ver,
                    "video": {"path": str(video), "duration_ms": duration_ms, "size": [vw, vh], "gop": 50},
                },
            )
        )


# ============================================================================== main


def machine() -> dict[str, Any]:
    def sh(cmd: str) -> str:
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    import specrunner

    src = Path(specrunner.__file__).resolve().parent.parent
    label = src / ".bench-source"  # an exported tree says what it is (e.g. "commit abc123 + patches")
    if label.is_file():
        commit, dirty = label.read_text().strip(), ""
    else:
        commit = sh(f"git -C {src} rev-parse --short HEAD")
        dirty = sh(f"git -C {src} status --porcelain -- specrunner schemas")
    return {
        "date_utc": sh("date -u"),
        "nproc": sh("nproc"),
        "free_h": sh("free -h"),
        "specrunner": {
            "version": specrunner.__version__,
            "source": str(src),
            "commit": commit,
            "dirty": dirty,
        },
        "load_average": sh("cut -d' ' -f1-3 /proc/loadavg"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
    }


def markdown(doc: dict[str, Any]) -> str:
    """The results as the Markdown table bench/README.md records."""
    m = doc["machine"]
    sr = m["specrunner"]
    mem = next((ln.split()[1] for ln in m["free_h"].splitlines() if ln.startswith("Mem:")), "?")
    out = [
        f"{doc['mode'].capitalize()} run of {m['date_utc']}: {m['nproc']} CPUs ({m['cpu']}), {mem} RAM, "
        f"Python {m['python']}, specrunner {sr['version']} at {sr['commit']}"
        f"{' plus uncommitted changes' if sr['dirty'] else ''}, "
        f"load average {m['load_average']} at the start; "
        f"{doc['elapsed_seconds']:.0f} s in all.",
        "",
        "| figure | specrunner | baseline | ratio | goal | |",
        "|---|---|---|---|---|---|",
    ]

    def order(r: dict[str, Any]) -> tuple[int, str]:
        tag = r["name"].split()[0]
        return int(re.match(r"\d+", tag).group()), tag

    figures = sorted(doc["figures"], key=order)
    for r in figures:
        cells = Row(**r).line().split(" | ")
        out.append("| " + " | ".join(cells) + " |")
    notes = [f"- **{r['name'].split()[0]}**: {r['note']}" for r in figures if r.get("note")]
    return "\n".join(out + [""] + notes) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke mode, < 60 s)")
    ap.add_argument("--only", default="", help=f"comma-separated figures: {', '.join(FIGURES)}")
    ap.add_argument(
        "--qps-submit",
        type=float,
        default=LIMIT_SUBMIT,
        help="target.qps.submit of the (1) manifest (default: the account limit, 50)",
    )
    ap.add_argument(
        "--qps-query",
        type=float,
        default=LIMIT_QUERY,
        help="target.qps.query of the (1) manifest (default: the account limit, 100)",
    )
    ap.add_argument(
        "--sweep",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[],
        help="(1) also run the apply at these target.qps.submit values, e.g. 45,48,50,55,60",
    )
    ap.add_argument("--parallelism", type=int, default=10, help="apply --parallelism (default 10)")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="also write cProfile reports (main thread; extra runs, never the measured ones) of the "
        "plan, no-op apply and validate workers to bench/out/profile-*.txt",
    )
    ap.add_argument("--strict", action="store_true", help="exit 2 if a figure misses its goal")
    ap.add_argument("--out", type=Path, default=OUT / "results.json")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "JSON"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        kind, payload = args.worker
        print(json.dumps(WORKERS[kind](json.loads(payload))), flush=True)
        return 0

    only = {x.strip() for x in args.only.split(",") if x.strip()} or set(FIGURES)
    unknown = only - set(FIGURES)
    if unknown:
        ap.error(f"unknown figure(s) {sorted(unknown)}; choose from {', '.join(FIGURES)}")
    sz = QUICK if args.quick else FULL
    args.plan_reps = 1 if args.quick else 2
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "home").mkdir(exist_ok=True)
    info = machine()
    started = time.perf_counter()
    sr = info["specrunner"]
    print(
        f"specrunner benchmarks ({'quick' if args.quick else 'full'}) -- {info['date_utc']}; "
        f"{info['nproc']} CPUs; Python {info['python']}; "
        f"specrunner {sr['version']} at {sr['commit'] or sr['source']}"
        f"{' (uncommitted changes)' if sr['dirty'] else ''}; load {info['load_average']}",
        flush=True,
    )
    print("name | specrunner | baseline | ratio | goal | PASS/MISS", flush=True)
    failures: list[str] = []
    memory: dict[str, Any] = {}
    steps = [
        (
            "throughput",
            lambda: fig_throughput(sz, args, want_cpu="cpu" in only, want_tp="throughput" in only),
        ),
        ("noop", lambda: fig_noop(sz, args, memory)),
        ("validate", lambda: fig_validate(sz, args)),
        ("stateio", lambda: fig_stateio(sz, args, memory)),
        ("engine", lambda: fig_engine(sz, args)),
        ("memory", lambda: fig_memory(memory)),
    ]
    for name, step in steps:
        wanted = (
            name in only
            or (name == "throughput" and "cpu" in only)
            or (name in ("noop", "stateio") and "memory" in only)
        )
        if not wanted:
            continue
        try:
            step()
        except Exception as e:
            failures.append(f"{name}: {e}")
            print(f"{name} | FAILED: {e}", flush=True)
            traceback.print_exc()
    elapsed = time.perf_counter() - started
    doc = {
        "kind": "specrunner-bench",
        "mode": "quick" if args.quick else "full",
        "machine": info,
        "sizes": asdict(sz),
        "elapsed_seconds": round(elapsed, 1),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "failures": failures,
        "figures": [asdict(r) for r in ROWS],
        "qps_sweep": SWEEP,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(doc))
    misses = [r.name for r in ROWS if r.ok is False]
    print(
        f"done in {elapsed:.0f} s: {sum(1 for r in ROWS if r.ok)} PASS, {len(misses)} MISS, "
        f"{len(failures)} failed; results in {args.out}",
        flush=True,
    )
    if failures:
        return 1
    return 2 if (args.strict and misses) else 0


if __name__ == "__main__":
    sys.exit(main())
