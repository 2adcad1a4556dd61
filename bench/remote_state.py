#!/usr/bin/env python3
"""Remote state vs local state: apply jobs/s side by side (issue: state, journal and lock in OSS).

    .venv/bin/python bench/remote_state.py              # 500 async jobs, 30 ms latency on MTS and OSS
    .venv/bin/python bench/remote_state.py --jobs 100   # quicker

Each apply runs in a fresh interpreter (bench/run.py's ``apply`` worker: ``ops.execute.apply``
timed, with lock, journal and commit) against its own ``specrunner emulator --simulate`` process with 30 ms
latency on every request (MTS and OSS alike) and the Submit/Query limits of figure (1)
(50/100 QPS). The local run keeps its state in a file; the remote run in OSS on the same emulator
(``state: {backend: oss, ...}``: every intent appended to OSS before its Submit, group-committed).
Prints ``remote jobs/s / local jobs/s`` (goal >= 0.95) and writes bench/out/remote_state.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench

STATE = "state: {backend: oss, bucket: bench-state, key: bench/tp.lock.json, location: oss-cn-hangzhou}\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=500, help="async jobs (inputs x 10 rules)")
    ap.add_argument("--parallelism", type=int, default=10)
    ap.add_argument("--reps", type=int, default=1, help="runs of each, the best kept")
    ap.add_argument(
        "--no-throttle",
        action="store_true",
        help="no account limits and target.qps 1000: the latency cost alone",
    )
    args = ap.parse_args(argv)
    inputs = max(1, args.jobs // 10)
    njobs = inputs * 10
    folder = bench.WORK / "remote-state"
    qps = (1000.0, 1000.0) if args.no_throttle else (bench.LIMIT_SUBMIT, bench.LIMIT_QUERY)
    text = bench.header("aliyun", qps) + bench.inputs_yaml(inputs) + bench.async_rules(10)
    local = bench.write_manifest(folder / "local", "tp.yaml", text)
    remote = bench.write_manifest(
        folder / "remote", "tp.yaml", text.replace("inputs:\n", STATE + "inputs:\n", 1)
    )
    limits: dict[str, Any] = dict(
        latency_ms=bench.LATENCY_MS, submit_qps=bench.LIMIT_SUBMIT, query_qps=bench.LIMIT_QUERY
    )
    if args.no_throttle:
        limits = dict(latency_ms=bench.LATENCY_MS)
    results: dict[str, list[dict[str, Any]]] = {"local": [], "remote": []}
    for rep in range(args.reps):
        for kind, manifest in (("local", local), ("remote", remote)):
            for p in manifest.parent.glob("tp.lock.json*"):
                p.unlink()
            with bench.EmulatorProc(f"state-{kind}-{rep}", **limits) as emu:
                (emu.dir / "oss" / "bench-state").mkdir(parents=True, exist_ok=True)
                os.environ["SPECRUNNER_OSS_ENDPOINT"] = emu.url  # passed on to the worker
                r = bench.worker(
                    "apply", {"manifest": str(manifest), "parallelism": args.parallelism}, endpoint=emu.url
                )
                oss_calls = sum(
                    1
                    for e in emu.entries()
                    if e.get("action") in ("PutObject", "AppendObject", "GetObject", "HeadObject")
                )
            if r["counts"]["succeeded"] != njobs:
                raise RuntimeError(f"{kind} apply did not succeed on every job: {r['counts']}")
            r["jobs_per_s"] = njobs / float(r["seconds"])
            r["oss_state_calls"] = oss_calls
            results[kind].append(r)
            print(
                f"  {kind:6s} rep {rep + 1}: {njobs} jobs in {r['seconds']:.2f} s = "
                f"{r['jobs_per_s']:.1f} jobs/s"
                f" ({oss_calls} OSS state calls)",
                flush=True,
            )
    best = {k: max(float(r["jobs_per_s"]) for r in v) for k, v in results.items()}
    ratio = best["remote"] / best["local"]
    verdict = "PASS" if ratio >= 0.95 else "MISS"
    print(
        f"remote-state apply / local-state apply | {best['remote']:.1f} | {best['local']:.1f} jobs/s | "
        f"{ratio:.3f} | >= 0.95 | {verdict}"
    )
    if not args.no_throttle:  # the gate before every Submit must not cost throughput at the cap
        cap = float(bench.LIMIT_SUBMIT)
        for kind in ("remote", "local"):
            r_cap = best[kind] / cap
            print(
                f"{kind}-state apply / Submit cap | {best[kind]:.1f} | {cap:.0f} jobs/s | {r_cap:.3f} | "
                f">= 0.95 | {'PASS' if r_cap >= 0.95 else 'MISS'}"
            )
    bench.OUT.mkdir(parents=True, exist_ok=True)
    (bench.OUT / ("remote_state_unthrottled.json" if args.no_throttle else "remote_state.json")).write_text(
        json.dumps(
            {
                "jobs": njobs,
                "latency_ms": bench.LATENCY_MS,
                "throttled": not args.no_throttle,
                "target_qps": qps,
                "best_jobs_per_s": best,
                "ratio": ratio,
                "runs": results,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
