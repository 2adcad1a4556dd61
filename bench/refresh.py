#!/usr/bin/env python3
"""The refresh (issue 22) measured: plan checks the recorded outputs and inputs against the buckets.

    .venv/bin/python bench/refresh.py            # full: 100,000 jobs at 30 ms latency; 5,000 whole-process
    .venv/bin/python bench/refresh.py --quick    # small sizes (~1 min): the smoke mode

Figures, each side by side with ``--refresh=false`` (the plan from the state as recorded):

- **R1** a refresh of 100,000 single-frame jobs (1,000 inputs x 100 rules) against the emulator with
  30 ms latency on every request: ``load_context`` + ``compute_plan`` in a fresh process, with and
  without the refresh; the listing calls and objects checked come from the plan's own summary and the
  emulator's journal (ListObjectsV2 only, never a HEAD).
- **R2** the whole-process no-op ``plan`` of 5,000 jobs (50 inputs x 100 mixed rules, as bench/scale.py's
  N1) with the refresh, ``plan --refresh=false`` and the parse floor (``yaml.load`` + ``json.loads`` of
  the manifest and the lock file), interleaved, medians of N runs, against the emulator without latency;
  **R2b** the same at 30 ms latency; each with the ratio net of the time a listing call was in flight
  (and of importing the OSS SDK), both measured by the refresh of the timed process itself (the plan
  runs as the console script does and reports them on stderr), rep by rep.

The states are written directly (bench/run.py's ``write_applied_state``, then each record gets the
sizes and ETags of the objects written for it into the emulator's folders, and its input's ETag), so
each plan is a full no-op refresh: every job ``noop``, every output found as recorded. Writes
``bench/out/refresh.json``; never part of the test suite (its smoke test runs ``--quick``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run  # noqa: E402 - bench/run.py's helpers (manifests, emulator, workers)
import scale  # noqa: E402 - bench/scale.py's whole-process timing (ab, sr, floor)

LATENCY_MS = 30
WORKERS = 16  # ops.refresh.WORKERS: listing calls in flight


@dataclass(frozen=True)
class Sizes:
    reps: int
    big_inputs: int  # x 100 single-frame rules (R1)
    small_inputs: int  # x 100 mixed rules (R2)


FULL = Sizes(reps=5, big_inputs=1000, small_inputs=50)
QUICK = Sizes(reps=2, big_inputs=20, small_inputs=10)
ROWS: list[dict[str, Any]] = []


def emit(name: str, cells: list[str], note: str = "", **details: Any) -> None:
    ROWS.append({"name": name, "cells": cells, "note": note, "details": details})
    print(" | ".join([name, *cells]), flush=True)
    if note:
        print(f"    note: {note}", flush=True)


def prepare(manifest: Path, root: Path) -> tuple[Path, int, int]:
    """The applied state of ``manifest`` and, in the emulator's folders, every input and output it names:
    each record carries its outputs' sizes and ETags and its input's ETag, as an apply records them."""
    from specrunner.statefile.doc import StateDoc, decode_state, encode_state
    from specrunner.statefile.files import atomic_write

    lock, njobs = scale.write_state_worker(manifest)
    doc = decode_state(lock.read_bytes(), lock)
    written: dict[str, tuple[int, str]] = {}

    def put(ref: str) -> tuple[int, str]:
        if ref not in written:
            data = f"{ref}\n".encode()
            path = root / ref
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written[ref] = (len(data), hashlib.md5(data, usedforsecurity=False).hexdigest().upper())
        return written[ref]

    jobs = {}
    for key, rec in doc.jobs.items():
        seen = tuple(put(o) for o in rec.outputs)
        jobs[key] = rec.evolve(seen=seen, seen_at="2026-12-07T00:00:00Z", input_etag=put(rec.input)[1])
    atomic_write(lock, encode_state(StateDoc(doc.lineage, doc.serial, jobs)))
    return lock, njobs, sum(len(r.outputs) for r in jobs.values())


def lists(emu: run.EmulatorProc) -> tuple[int, int]:
    entries = emu.entries()
    heads = sum(1 for e in entries if e.get("action") in ("HeadObject", "GetObjectMeta"))
    return sum(1 for e in entries if e.get("action") == "ListObjectsV2"), heads


def fig_r1(sz: Sizes) -> None:
    folder = run.WORK / "refresh-big"
    shutil.rmtree(folder, ignore_errors=True)
    manifest = run.write_manifest(
        folder, "m.yaml", run.header("aliyun") + run.inputs_yaml(sz.big_inputs) + scale.single_rules(100)
    )
    with run.EmulatorProc("refresh-big", latency_ms=LATENCY_MS) as emu:
        _, njobs, nout = prepare(manifest, emu.dir / "oss")
        off = run.worker("plan", {"manifest": str(manifest), "refresh": False}, endpoint=emu.url)
        # a warm-up: the emulator computes each object's MD5 on its first listing (OSS stores ETags)
        run.worker("plan", {"manifest": str(manifest), "refresh": True}, endpoint=emu.url)
        before = lists(emu)
        on = run.worker("plan", {"manifest": str(manifest), "refresh": True}, endpoint=emu.url)
        after = lists(emu)
    calls, heads = after[0] - before[0], after[1] - before[1]
    summary = on["refresh"]
    if on["counts"]["noop"] != njobs or summary["replaced"] or summary["outputs_checked"] != nout:
        raise RuntimeError(f"the refresh was not a full no-op: {on['counts']} {summary}")
    bound = math.ceil(nout / 1000) + 100 + math.ceil(sz.big_inputs / 1000)  # pages per 1,000 + prefixes
    emit(
        f"R1 refresh of {njobs:,} jobs at {LATENCY_MS} ms",
        [
            f"{on['seconds']:.2f} s with refresh",
            f"{off['seconds']:.2f} s --refresh=false",
            f"{on['seconds'] / off['seconds']:.2f}x",
            f"{calls} ListObjectsV2 (bound {bound}), {heads} HEAD",
        ],
        note=f"{nout:,} outputs + {summary['inputs_compared']:,} inputs checked; compute_plan "
        f"{on['compute_plan_seconds']:.2f} s (a listing call in flight {on['refresh_wait_seconds']:.2f} s, "
        f"the OSS SDK's import {on['refresh_open_seconds']:.2f} s, the rest "
        f"{on['compute_plan_seconds'] - on['refresh_wait_seconds'] - on['refresh_open_seconds']:.2f} s) "
        f"vs {off['compute_plan_seconds']:.2f} s; load_context {on['load_context_seconds']:.2f} s; "
        f"peak RSS {on['rss_mb']:.0f} MB vs {off['rss_mb']:.0f} MB; emulator warmed by one refresh",
        on=on,
        off=off,
        calls=calls,
        heads=heads,
        bound=bound,
    )
    if heads or calls > bound:
        raise RuntimeError(f"listing cost over its bound: {calls} calls (bound {bound}), {heads} HEADs")


# `specrunner plan` as the console script runs it (its two lines), reporting on stderr what the refresh of
# that same process measured: the wall time while a ListObjectsV2 call was in flight, the import of the OSS
# SDK itself (`import oss2` and what it loads, timed where the refresh opens its lister: nothing else of
# specrunner's is counted in it), and the opening of the lister (that import, plus specrunner's OSS modules,
# the retry library and the credentials).
TIMED_PLAN = """
import sys, time
from specrunner.ops import planrequest
import specrunner.backends as backends
sdk = [0.0]
opener = backends.open_objects_lister
def opening(manifest):
    t = time.perf_counter()
    import oss2
    sdk[0] = time.perf_counter() - t
    return opener(manifest)
backends.open_objects_lister = opening
refresh = planrequest.refresh_context
def timed(ctx, req):
    found = refresh(ctx, req)
    sys.stderr.write(
        f"@@refresh {found.wait_seconds:.6f} {sdk[0]:.6f} {found.open_seconds:.6f} {found.listings}\\n"
    )
    return found
planrequest.refresh_context = timed
from specrunner.cli.entry import main
sys.argv[0] = "specrunner"
main()
"""


def _own(stderr: str) -> tuple[float, float, float, int]:
    """(seconds with a listing call in flight, seconds importing oss2, seconds opening the lister,
    listing calls) of a TIMED_PLAN."""
    m = re.search(r"@@refresh (\S+) (\S+) (\S+) (\d+)", stderr)
    if not m:
        raise RuntimeError(f"the timed plan did not report its refresh: {stderr[-500:]}")
    return float(m.group(1)), float(m.group(2)), float(m.group(3)), int(m.group(4))


def fig_r2(sz: Sizes, latency: int) -> None:
    name = f"refresh-small-{latency}"
    folder = run.WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    manifest = run.write_manifest(
        folder, "m.yaml", run.header("aliyun") + run.inputs_yaml(sz.small_inputs) + run.mixed_rules(100)
    )
    with run.EmulatorProc(name, latency_ms=latency) as emu:
        lock, njobs, nout = prepare(manifest, emu.dir / "oss")
        env = run.bench_env(emu.url)
        cmds = {
            "on": [scale.PY, "-c", TIMED_PLAN, "plan", str(manifest)],
            "off": scale.sr("plan", str(manifest), "--refresh=false"),
            "floor": scale.floor(manifest, lock),
        }
        for cmd in cmds.values():  # one warm-up each (and the emulator's MD5 of every object)
            scale.timed(cmd, env=env)
        before = lists(emu)[0]
        reps = []
        for _ in range(sz.reps):  # interleaved: each rep's figures share the machine's state
            got = {k: scale.timed(cmd, env=env) for k, cmd in cmds.items()}
            wait, imp, opening, calls = _own(got["on"][2])
            reps.append(
                {k: v[0] for k, v in got.items()}
                | {"wait": wait, "import": imp, "open": opening, "calls": calls}
            )
            reps[-1] |= {f"{k}_rss": v[1] for k, v in got.items()}
        per_plan = (lists(emu)[0] - before) // sz.reps
        check = run.worker("plan", {"manifest": str(manifest), "refresh": True}, endpoint=emu.url)
    if check["counts"]["noop"] != njobs or check["refresh"]["replaced"]:
        raise RuntimeError(f"the refresh was not a full no-op: {check['counts']} {check['refresh']}")

    def med(f: Any) -> float:
        return statistics.median(f(r) for r in reps)

    own = med(lambda r: (r["on"] - r["wait"]) / r["floor"])
    own_sdk = med(lambda r: (r["on"] - r["wait"] - r["import"]) / r["floor"])
    label = "R2" if not latency else "R2b"
    emit(
        f"{label} whole-process no-op plan of {njobs:,} jobs, {latency} ms latency",
        [
            f"{med(lambda r: r['on']):.3f} s with refresh",
            f"{med(lambda r: r['off']):.3f} s --refresh=false",
            f"{med(lambda r: r['floor']):.3f} s parse floor",
            f"{med(lambda r: r['on'] / r['floor']):.2f}x / "
            f"{med(lambda r: r['off'] / r['floor']):.2f}x the floor",
            f"net of the listing in flight ({med(lambda r: r['wait']):.3f} s): {own:.2f}x",
            f"and of `import oss2` ({med(lambda r: r['import']):.3f} s): {own_sdk:.2f}x",
            f"`import oss2` alone: {med(lambda r: r['import'] / r['floor']):.2f}x the floor",
        ],
        note=f"{per_plan} ListObjectsV2 per plan for {nout:,} outputs and {sz.small_inputs} inputs; "
        "net = (the plan's wall - the time its own refresh had a listing call in flight [- its `import "
        "oss2`]) / the floor's wall, per rep, median (the goal: within 3x the floor plus the listing round "
        "trips); opening the lister took "
        f"{med(lambda r: r['open']):.3f} s in all (`import oss2`, then specrunner's OSS modules, the retry "
        "library, the credentials); "
        f"peak RSS {med(lambda r: r['on_rss']):.0f} MB vs {med(lambda r: r['off_rss']):.0f} MB "
        f"(floor {med(lambda r: r['floor_rss']):.0f} MB)",
        reps=reps,
        calls=per_plan,
        net=own,
        net_sdk=own_sdk,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="r1,r2,r2b")
    args = ap.parse_args(argv)
    sz = QUICK if args.quick else FULL
    only = [f for f in ("r1", "r2", "r2b") if not args.only or f in args.only.split(",")]
    scale.WORK.mkdir(parents=True, exist_ok=True)
    (run.WORK / "home").mkdir(parents=True, exist_ok=True)
    info = run.machine()
    print(
        f"specrunner refresh benchmarks ({'quick' if args.quick else 'full'}) -- {info['date_utc']}; "
        f"{info['nproc']} CPUs, specrunner at {info['specrunner']['commit']}, load {info['load_average']}",
        flush=True,
    )
    t0 = time.perf_counter()
    failed = []
    for fig in only:
        try:
            {"r1": lambda: fig_r1(sz), "r2": lambda: fig_r2(sz, 0), "r2b": lambda: fig_r2(sz, LATENCY_MS)}[
                fig
            ]()
        except Exception as e:
            failed.append(fig)
            print(f"{fig} | FAILED: {e}", flush=True)
    run.OUT.mkdir(parents=True, exist_ok=True)
    doc = {"date": info["date_utc"], "rows": ROWS, "failed": failed, "elapsed": time.perf_counter() - t0}
    (run.OUT / "refresh.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print(f"done in {doc['elapsed']:.0f} s; {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
