#!/usr/bin/env python3
"""What users wait for (issue 14): whole processes, start-up included, beside their floors, in one run.

    .venv/bin/python bench/scale.py            # the full run (10,000 x 100 = a million jobs; ~15 min)
    .venv/bin/python bench/scale.py --quick    # small sizes (~1 min): the smoke mode
    .venv/bin/python bench/scale.py --only startup,lockbytes

Figures (``--only`` names): ``lockbytes`` (lock bytes per job: the demo mix, 100,000 single-frame
jobs), ``startup`` (``--version``, shell completion, ``validate`` of the demo, 20 pre-commit
validations), ``noop5k`` (whole-process no-op ``plan`` of 5,000 jobs vs its parse floor), ``million``
(10,000 inputs x 100 rules: validate, plan, no-op plan, show; time and peak RSS vs the parse floor),
``apply`` (100,000 jobs applied against the emulator: state bytes written vs the final file).

Every process figure is the **median of N runs** of the real command (the ``specrunner`` console
script), its wall time from outside and its peak RSS from ``/usr/bin/time``
(the child of a small process, so no parent's memory is counted), with its bytecode cached (in
``bench/out/pycache``) as an installed specrunner has it: a warm-up run precedes the timed ones. Each
floor runs interleaved with
its command (A B A B ...), so a drifting machine moves both. The floor of a plan is a process that
only reads and parses its inputs: ``yaml.load(CSafeLoader)`` of the manifest and ``json.loads`` of the
lock file. Writes ``bench/out/scale.json`` and ``bench/out/scale.md``; never part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run  # noqa: E402 - the shared helpers of bench/run.py (manifests, emulator, workers)

PY = sys.executable
OUT = run.OUT
WORK = run.WORK / "scale"
FIGS = ("lockbytes", "diff", "startup", "noop5k", "million", "apply", "cpu")
FLOOR_CODE = """
import json, sys, yaml
with open(sys.argv[1], encoding="utf-8") as f:
    yaml.load(f.read(), Loader=yaml.CSafeLoader)
if len(sys.argv) > 2:
    with open(sys.argv[2], "rb") as f:
        json.loads(f.read())
"""


@dataclass(frozen=True)
class Sizes:
    reps: int
    noop_inputs: int  # x 100 rules = 5,000 jobs
    million_inputs: int  # x million_rules
    million_rules: int
    single_inputs: int  # x 100 single-frame rules
    apply_inputs: int  # x 100 single-frame rules, applied
    precommit: int
    cpu_inputs: int  # x 10 async rules (num: 2), as bench/run.py's figure 5


FULL = Sizes(
    reps=5,
    noop_inputs=50,
    million_inputs=10_000,
    million_rules=100,
    single_inputs=1000,
    apply_inputs=1000,
    precommit=20,
    cpu_inputs=100,
)
QUICK = Sizes(
    reps=3,
    noop_inputs=50,
    million_inputs=200,
    million_rules=20,
    single_inputs=50,
    apply_inputs=20,
    precommit=5,
    cpu_inputs=10,
)

ROWS: list[dict[str, Any]] = []


def row(
    name: str,
    spec: str,
    base: str,
    ratio: float | None,
    goal: str,
    ok: bool | None,
    note: str = "",
    **details: Any,
) -> None:
    r = {
        "name": name,
        "specrunner": spec,
        "baseline": base,
        "ratio": ratio,
        "goal": goal,
        "ok": ok,
        "note": note,
        "details": details,
    }
    ROWS.append(r)
    status = "-" if ok is None else ("PASS" if ok else "MISS")
    print(
        " | ".join([name, spec, base, "-" if ratio is None else f"{ratio:.3g}", goal or "-", status]),
        flush=True,
    )
    if note:
        print(f"    note: {note}", flush=True)


def say(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)


def timed(
    cmd: list[str], *, cwd: Path = WORK, env: dict[str, str] | None = None, ok_codes: tuple[int, ...] = (0,)
) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stderr tail) of one whole process; stdout is discarded."""
    t0 = time.perf_counter()
    p = subprocess.run(
        ["/usr/bin/time", "-f", "@@rss %M", *cmd],
        cwd=cwd,
        env=env or run.bench_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wall = time.perf_counter() - t0
    lines = p.stderr.splitlines()
    rss = next((int(ln.split()[1]) / 1024 for ln in reversed(lines) if ln.startswith("@@rss")), float("nan"))
    if p.returncode not in ok_codes:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr[-2000:]}")
    return wall, rss, "\n".join(ln for ln in lines if not ln.startswith("@@rss"))[-500:]


def ab(a: list[str], b: list[str] | None, reps: int, **kw: Any) -> dict[str, Any]:
    """A and B interleaved ``reps`` times (after one warm-up each): medians of wall and peak RSS."""
    timed(a, **kw)
    if b:
        timed(b, **kw)
    ra, rb = [], []
    for _ in range(reps):
        ra.append(timed(a, **kw))
        if b:
            rb.append(timed(b, **kw))

    def med(rs: list[tuple[float, float, str]], i: int) -> float:
        return statistics.median(r[i] for r in rs)

    out = {"a_wall": med(ra, 0), "a_rss": med(ra, 1), "a_runs": [r[0] for r in ra], "a_stderr": ra[-1][2]}
    if b:
        out |= {"b_wall": med(rb, 0), "b_rss": med(rb, 1), "b_runs": [r[0] for r in rb]}
        out["ratio_wall"] = statistics.median(x[0] / y[0] for x, y in zip(ra, rb, strict=True))
        out["ratio_rss"] = out["a_rss"] / out["b_rss"]
    return out


def sr(*args: str) -> list[str]:
    """The console script users run (its start-up is what they wait for)."""
    return [str(Path(PY).parent / "specrunner"), *args]


def floor(manifest: Path, lock: Path | None = None) -> list[str]:
    return [PY, "-c", FLOOR_CODE, str(manifest), *([str(lock)] if lock else [])]


def single_rules(n: int) -> str:
    out = ["rules:"]
    for r in range(n):
        out += [
            f"  - id: r{r:03d}",
            f"    time: {r % 50}s",
            "    width: 640",
            f'    output: "r{r:03d}/{{ObjectPrefix}}{{FileName}}.jpg"',
        ]
    return "\n".join(out) + "\n"


def write_state_worker(manifest: Path) -> tuple[Path, int]:
    """The applied state of ``manifest`` (bench/run.py's ``write_applied_state``), in its own process."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]); import run; from pathlib import Path; "
        "p, n = run.write_applied_state(Path(sys.argv[1])); print(p, n)"
    )
    out = subprocess.run(
        [PY, "-c", code, str(manifest), str(HERE)],
        capture_output=True,
        text=True,
        check=True,
        env=run.bench_env(),
        cwd=WORK,
    ).stdout.split()
    return Path(out[0]), int(out[1])


def lock_lines(lock: Path) -> list[int]:
    """Bytes of each job line (newline included) of a format 2 lock file."""
    data = lock.read_bytes()
    start = data.index(b'\n  "jobs": {\n') + len(b'\n  "jobs": {\n')
    return [len(ln) + 1 for ln in data[start:].split(b"\n") if ln.startswith(b'    "')]


# ============================================================================== figures


def fig_lockbytes(sz: Sizes) -> None:
    folder = WORK / "demo"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(
        run.REPO / "specs",
        folder,
        ignore=shutil.ignore_patterns("*.lock.json*", ".specrunner", "media-out", ".mts"),
    )
    timed(sr("apply", "demo.yaml"), cwd=folder)
    lock = folder / "demo.lock.json"
    lines = lock_lines(lock)
    size = lock.stat().st_size
    v1 = (run.REPO / "tests" / "fixtures" / "demo-v1.lock.json").stat().st_size
    row(
        "L1 lock bytes per job: demo mix (5 jobs, 3 rules)",
        f"{size / len(lines):.0f} B/job",
        f"{v1 / len(lines):.0f} B/job (format 1)",
        size / v1,
        "",
        None,
        note=f"file {size:,} B vs {v1:,} B in format 1; job lines {min(lines)}-{max(lines)} B (the rest: the "
        "3 rule configs, written once)",
        lock_bytes=size,
        v1_bytes=v1,
        line_bytes=lines,
    )
    folder = WORK / "single"
    shutil.rmtree(folder, ignore_errors=True)
    n_in = sz.single_inputs
    manifest = run.write_manifest(
        folder, "single.yaml", run.header("aliyun") + run.inputs_yaml(n_in) + single_rules(100)
    )
    say(f"(L2) writing the applied state of {n_in * 100:,} single-frame jobs")
    lock, njobs = write_state_worker(manifest)
    lines = lock_lines(lock)
    size = lock.stat().st_size
    row(
        f"L2 lock bytes per job: {njobs:,} single-frame jobs",
        f"{size / njobs:.0f} B/job",
        "200 B/job (goal)",
        size / njobs / 200,
        "<= 1",
        size / njobs <= 200,
        note=f"file {size / 1e6:.1f} MB; job lines: median {statistics.median(lines):.0f} B, "
        f"max {max(lines)} B",
        lock_bytes=size,
        jobs=njobs,
        max_line=max(lines),
    )


def fig_diff(sz: Sizes) -> None:
    """A PR-style diff: 1,000 inputs x 3 rules applied and committed; one rule's width changed; applied
    again."""
    folder = WORK / "diff"
    shutil.rmtree(folder, ignore_errors=True)
    n = 1000 if sz is FULL else 50
    rules = single_rules(3)
    manifest = run.write_manifest(
        folder, "m.yaml", run.header("aliyun", (10_000, 10_000)) + run.inputs_yaml(n) + rules
    )

    def git(*a: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *a],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    git("init", "-q")
    with run.EmulatorProc("scale-diff") as emu:
        env = run.bench_env(emu.url)
        timed(sr("apply", "m.yaml", "--quiet", "--auto-approve"), cwd=folder, env=env)
        git("add", "m.yaml", "m.lock.json")
        git("commit", "-qm", "applied")
        manifest.write_text(
            manifest.read_text()
            .replace("    width: 640\n", "    width: 800\n", 2)
            .replace("    width: 800\n", "    width: 640\n", 1)
        )  # only r001 changes
        timed(sr("apply", "m.yaml", "--quiet", "--auto-approve"), cwd=folder, env=env)
    diff = git("diff", "--unified=0", "m.lock.json")
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    job_plus = [ln for ln in changed if ln.startswith("+") and "::" in ln]
    job_minus = [ln for ln in changed if ln.startswith("-") and "::" in ln]
    other = [ln for ln in changed if "::" not in ln]
    (OUT / "scale-diff.txt").write_text(diff)
    stat = git("diff", "--stat", "m.lock.json").strip().splitlines()[-1]
    row(
        f"D1 git diff after changing one rule's width on {n:,} inputs",
        f"{len(job_plus):,} job lines",
        f"{n:,} jobs changed",
        len(job_plus) / n,
        "= 1 (one line per job)",
        len(job_plus) == n and len(job_minus) == n and all("::r001" in ln for ln in job_plus + job_minus),
        note=f"{stat.strip()}; besides the job lines {len(other)} lines (rule config, serial); the diff is "
        f"in bench/out/scale-diff.txt",
        other=other,
        head=diff.splitlines()[:12],
    )


def fig_startup(sz: Sizes) -> None:
    bare = [PY, "-c", "pass"]
    r = ab(sr("--version"), bare, sz.reps)
    row(
        "S1 `specrunner --version` (whole process)",
        f"{r['a_wall']:.3f} s",
        f"{r['b_wall']:.3f} s (bare python)",
        r["a_wall"] / 0.1,
        "<= 1 (0.1 s)",
        r["a_wall"] <= 0.1,
        note=f"{r['ratio_wall']:.2f}x a bare interpreter",
        **r,
    )
    env = run.bench_env() | {
        "_SPECRUNNER_COMPLETE": "complete_bash",
        "COMP_WORDS": "specrunner pl",
        "COMP_CWORD": "1",
    }
    r = ab(sr(), bare, sz.reps, env=env)
    row(
        "S2 shell completion `specrunner pl<Tab>` (whole process)",
        f"{r['a_wall']:.3f} s",
        f"{r['b_wall']:.3f} s (bare python)",
        r["a_wall"] / 0.1,
        "<= 1 (0.1 s)",
        r["a_wall"] <= 0.1,
        **r,
    )
    demo = run.REPO / "specs" / "demo.yaml"
    r = ab(sr("validate", str(demo)), [PY, "-c", "import yaml, json, typer"], sz.reps)
    row(
        "S3 `specrunner validate specs/demo.yaml` (whole process)",
        f"{r['a_wall']:.3f} s",
        f"{r['b_wall']:.3f} s (python + yaml + typer)",
        r["a_wall"] / 0.25,
        "<= 1 (0.25 s)",
        r["a_wall"] <= 0.25,
        **r,
    )
    # In-process: the same command again in a warm interpreter (imports done).
    code = (
        "import time, sys; from typer.testing import CliRunner; from specrunner.cli.main import cli; "
        "import specrunner.validate.manifest; r = CliRunner(); t = time.perf_counter(); "
        "res = r.invoke(cli, ['validate', sys.argv[1]]); print(time.perf_counter() - t, res.exit_code)"
    )
    inproc = float(
        subprocess.run(
            [PY, "-c", code, str(demo)], capture_output=True, text=True, env=run.bench_env(), cwd=WORK
        ).stdout.split()[0]
    )
    ROWS[-1]["note"] = f"in-process (imports done) {inproc * 1000:.1f} ms"
    print(f"    note: {ROWS[-1]['note']}", flush=True)
    # pre-commit: the hook's entry (`specrunner validate`) with every changed manifest, one process.
    folder = WORK / "precommit"
    shutil.rmtree(folder, ignore_errors=True)
    files = [run.write_manifest(folder, f"m{i:02d}.yaml", demo.read_text()) for i in range(sz.precommit)]
    r = ab(sr("validate", *map(str, files)), None, max(1, sz.reps // 2))
    row(
        f"S4 pre-commit: the hook validates {sz.precommit} manifests (one process)",
        f"{r['a_wall']:.2f} s",
        "1 s (interactive)",
        r["a_wall"],
        "<= 1",
        r["a_wall"] <= 1.0,
        note=f"{r['a_wall'] / sz.precommit * 1000:.0f} ms per manifest",
        **r,
    )


def fig_noop5k(sz: Sizes) -> None:
    folder = WORK / "noop5k"
    shutil.rmtree(folder, ignore_errors=True)
    manifest = run.write_manifest(
        folder, "m.yaml", run.header("aliyun") + run.inputs_yaml(sz.noop_inputs) + run.mixed_rules(100)
    )
    lock, njobs = write_state_worker(manifest)
    r = ab(sr("plan", str(manifest), "--refresh=false"), floor(manifest, lock), sz.reps)
    inproc = run.worker("plan", {"manifest": str(manifest)})
    fl = run.worker("floor", {"manifest": str(manifest), "lock": str(lock)})
    if inproc["counts"]["noop"] != njobs:
        raise RuntimeError(f"the plan is not a no-op: {inproc['counts']}")
    row(
        f"N1 no-op `plan` of {njobs:,} jobs / parse floor (whole process)",
        f"{r['a_wall']:.3f} s",
        f"{r['b_wall']:.3f} s",
        r["ratio_wall"],
        "<= 3",
        r["ratio_wall"] <= 3,
        note=f"in-process: load_context + compute_plan {inproc['seconds']:.3f} s "
        f"vs parse {fl['seconds']:.4f} s "
        f"({inproc['seconds'] / fl['seconds']:.1f}x); peak RSS {r['a_rss']:.0f} MB vs {r['b_rss']:.0f} MB; "
        f"lock file {lock.stat().st_size / 1e3:.0f} KB",
        inproc=inproc,
        floor=fl,
        **r,
    )


def fig_million(sz: Sizes) -> None:
    folder = WORK / "million"
    shutil.rmtree(folder, ignore_errors=True)
    n_in, n_rules = sz.million_inputs, sz.million_rules
    manifest = run.write_manifest(
        folder, "m.yaml", run.header("aliyun") + run.inputs_yaml(n_in) + run.mixed_rules(n_rules)
    )
    njobs = n_in * n_rules
    reps = 1 if njobs >= 200_000 else 2
    say(f"(M) {njobs:,} jobs: validate")
    r = ab(sr("validate", str(manifest)), floor(manifest), reps)
    row(
        f"M1 `validate` {n_in:,} inputs x {n_rules} rules / YAML parse (whole process)",
        f"{r['a_wall']:.2f} s",
        f"{r['b_wall']:.2f} s",
        r["ratio_wall"],
        "",
        None,
        note=f"peak RSS {r['a_rss']:.0f} MB",
        **r,
    )
    say(f"(M) {njobs:,} jobs: plan (all to create)")
    r = ab(sr("plan", str(manifest)), floor(manifest), reps)
    row(
        f"M2 `plan` of {njobs:,} new jobs / YAML parse (whole process)",
        f"{r['a_wall']:.2f} s",
        f"{r['b_wall']:.2f} s",
        r["ratio_wall"],
        "",
        None,
        note=f"peak RSS {r['a_rss']:.0f} MB",
        **r,
    )
    say(f"(M) {njobs:,} jobs: writing the applied state")
    lock, _ = write_state_worker(manifest)
    say(f"(M) {njobs:,} jobs: no-op plan")
    r = ab(sr("plan", str(manifest), "--refresh=false"), floor(manifest, lock), reps)
    ok = r["ratio_wall"] <= 3 and r["ratio_rss"] <= 3
    row(
        f"M3 no-op `plan` of {njobs:,} jobs / parse floor (whole process)",
        f"{r['a_wall']:.2f} s, {r['a_rss']:.0f} MB",
        f"{r['b_wall']:.2f} s, {r['b_rss']:.0f} MB",
        r["ratio_wall"],
        "<= 3 (time and RSS)",
        ok,
        note=f"peak RSS ratio {r['ratio_rss']:.2f}; lock file {lock.stat().st_size / 1e6:.0f} MB "
        f"({lock.stat().st_size / njobs:.0f} B/job)",
        **r,
    )
    say(f"(M) {njobs:,} jobs: show")
    r = ab(sr("show", str(manifest)), floor(manifest, lock), reps)
    row(
        f"M4 `show` of {njobs:,} jobs / parse floor (whole process)",
        f"{r['a_wall']:.2f} s",
        f"{r['b_wall']:.2f} s",
        r["ratio_wall"],
        "",
        None,
        note=f"peak RSS {r['a_rss']:.0f} MB",
        **r,
    )


def fig_apply(sz: Sizes) -> None:
    folder = WORK / "apply"
    shutil.rmtree(folder, ignore_errors=True)
    manifest = run.write_manifest(
        folder,
        "m.yaml",
        run.header("aliyun", (10_000, 10_000)) + run.inputs_yaml(sz.apply_inputs) + single_rules(100),
    )
    njobs = sz.apply_inputs * 100
    say(f"(A) apply of {njobs:,} jobs against the emulator (simulated jobs, QPS raised)")
    with run.EmulatorProc("scale-apply") as emu:
        r = run.worker(
            "apply", {"manifest": str(manifest), "parallelism": 16}, endpoint=emu.url, timeout=3600
        )
    if r["counts"]["succeeded"] != njobs:
        raise RuntimeError(f"apply did not succeed on every job: {r['counts']}")
    ratio = r["state_bytes"] / r["lock_bytes"]
    row(
        f"A1 apply {njobs:,} jobs: state bytes written / final lock size",
        f"{r['state_bytes'] / 1e6:.1f} MB",
        f"{r['lock_bytes'] / 1e6:.1f} MB",
        ratio,
        "<= 4",
        ratio <= 4,
        note=f"apply {r['seconds']:.0f} s; runner CPU {r['cpu_seconds'] / njobs * 1000:.2f} ms/job; peak RSS "
        f"{r['rss_mb']:.0f} MB; {r['lock_bytes'] / njobs:.0f} B/job",
        **r,
    )


def fig_cpu(sz: Sizes) -> None:
    """Runner CPU per job at zero latency (bench/run.py's figure 5), beside the plain SDK loop's: both
    unpaced (target.qps far above what the runner reaches), as run.py explains; then both paced at
    the account's 50 Submits/s, shown in the note."""
    folder = WORK / "cpu"
    shutil.rmtree(folder, ignore_errors=True)
    body = run.inputs_yaml(sz.cpu_inputs) + run.async_rules(10)
    fast = run.write_manifest(folder, "fast.yaml", run.header("aliyun", (10_000, 10_000)) + body)
    paced = run.write_manifest(folder, "tp.yaml", run.header("aliyun") + body)
    njobs = sz.cpu_inputs * 10
    with run.EmulatorProc("scale-cpu") as emu:
        spec = run.worker("apply", {"manifest": str(fast), "parallelism": 10}, endpoint=emu.url)
    with run.EmulatorProc("scale-cpu-loop") as emu:
        loop = run.worker("loop", {"manifest": str(fast)}, endpoint=emu.url)
    with run.EmulatorProc("scale-cpu-paced") as emu:
        spec_p = run.worker("apply", {"manifest": str(paced), "parallelism": 10}, endpoint=emu.url)
    with run.EmulatorProc("scale-cpu-loop-paced") as emu:
        loop_p = run.worker("loop", {"manifest": str(paced), "qps": run.LIMIT_SUBMIT}, endpoint=emu.url)
    a, b = spec["cpu_seconds"] / njobs * 1000, loop["cpu_seconds"] / njobs * 1000
    pa, pb = spec_p["cpu_seconds"] / njobs * 1000, loop_p["cpu_seconds"] / njobs * 1000
    row(
        f"C1 runner CPU per job, {njobs:,} jobs at zero latency",
        f"{a:.2f} ms/job",
        f"{b:.2f} ms/job (SDK loop)",
        a,
        "<= 1 (ms)",
        a <= 1.0,
        note=f"{a / b:.2f}x the plain SDK loop's CPU (user {spec['cpu_user_seconds']:.2f} s"
        f" + sys {spec['cpu_sys_seconds']:.2f} s); both paced at {run.LIMIT_SUBMIT:g} Submits/s: "
        f"{pa:.2f} vs {pb:.2f} ms/job ({pa / pb:.2f}x)",
        runner=spec,
        loop=loop,
        runner_paced=spec_p,
        loop_paced=loop_p,
    )


def markdown(doc: dict[str, Any]) -> str:
    out = [
        f"Run of {doc['date']}: {doc['machine']}; {doc['elapsed']:.0f} s in all.",
        "",
        "| figure | specrunner | floor / baseline | ratio | goal | |",
        "|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        st = "-" if r["ok"] is None else ("PASS" if r["ok"] else "MISS")
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.3g}"
        out.append(
            f"| {r['name']} | {r['specrunner']} | {r['baseline']} | {ratio} | {r['goal'] or '-'} | {st} |"
        )
    out.append("")
    out += [f"- **{r['name'].split()[0]}**: {r['note']}" for r in doc["rows"] if r["note"]]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    args = ap.parse_args(argv)
    only = [f for f in FIGS if not args.only or f in args.only.split(",")]
    sz = QUICK if args.quick else FULL
    WORK.mkdir(parents=True, exist_ok=True)
    (run.WORK / "home").mkdir(parents=True, exist_ok=True)
    info = run.machine()
    machine = (
        f"{info['nproc']} CPUs, Python {info['python']}, specrunner at {info['specrunner']['commit']}, "
        f"load average {info['load_average']} at the start"
    )
    print(
        f"specrunner scale benchmarks ({'quick' if args.quick else 'full'}) -- {info['date_utc']}; {machine}",
        flush=True,
    )
    print("name | specrunner | floor / baseline | ratio | goal | PASS/MISS", flush=True)
    t0 = time.perf_counter()
    failed = []
    for name in only:
        try:
            globals()[f"fig_{name}"](sz)
        except Exception as e:
            failed.append(name)
            print(f"{name} | FAILED: {e}", flush=True)
    doc = {
        "date": info["date_utc"],
        "machine": machine,
        "elapsed": time.perf_counter() - t0,
        "rows": ROWS,
        "failed": failed,
        "mode": "quick" if args.quick else "full",
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "scale.json").write_text(json.dumps(doc, indent=2) + "\n")
    (OUT / "scale.md").write_text(markdown(doc))
    print(f"done in {doc['elapsed']:.0f} s; {len(failed)} failed; results in {OUT / 'scale.md'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
