"""The adversary harness: every attack on the remote state's lock and journal that a real machine can
mount, each on real ``specrunner`` processes with real signals, against ``specrunner emulator`` running
as its own process (a stopped runner never stops the server).

Scenarios (``run_<name>(workdir, seed) -> Figures``):

``frozen``            runner A is SIGSTOPped mid-submission; B (``--lock-timeout 60``) says it waits,
                      takes over once A's lease stayed unrenewed for a full lease, finishes; A, resumed,
                      submits nothing and says it lost the lock and what it submitted.
``frozen_skew``       the same with B's wall clock 100 s behind (libfaketime).
``force_unlock``      B is refused by a live A (the lock id and ``force-unlock`` named); the operator
                      force-unlocks (A acknowledges, well within two leases); B applies; A says revoked.
``skew_ahead`` / ``skew_behind``
                      B's wall clock 100 s ahead / behind (libfaketime): B never takes over from a live
                      A; it fails naming the holder.
``two_manifests``     two manifests, both ``m.yaml`` (an ephemeral runner's checkout holds only the
                      manifest), different inputs, one ``state:`` block, applied A, B, A, B: B refused.
``two_manifests_named``
                      the same with distinct file names (``a.yaml``, ``b.yaml``).
``normal_journal``    a killed run's journal replaced by a Normal object (a copy tool): a bounded error
                      naming it and ``state repair``; repair, apply: complete.
``deleted_lock_and_head``
                      every lock object and the head deleted: an error naming a journal, nothing
                      submitted; repair, apply: complete.
``implausible_head``  the head set to ``-1`` / ``3000`` / ``99999999`` / ``abc``: a bounded error naming
                      it; repair, apply: complete.
``corrupt_journal``   one job-id record of a killed run's journal damaged in place: an error naming the
                      object, the byte and ``state repair`` with counts (never "delete it"); repair,
                      apply: the job is found by its tag.
``symlinked_local``   a local lock file that is a symlink to another folder; SIGKILL mid-apply, rerun.

Figures of a run, all from the outside: duplicates (more than one job created on the service for one
(Input, SnapshotConfig)), lost ids (created on the service, missing from the final state), requests
(OSS + MTS, from the emulator's request journal), wall seconds, the longest any one command took
(time spent SIGSTOPped not counted), whether the final state holds every job as Success, and every
expectation of the scenario that did not hold (with the command's output).

    python -m specrunner.testing.adversary --scenario all --runs 20 --seed 1
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from specrunner.statefile.doc import StateDoc
from specrunner.statefile.journal import read_state
from specrunner.testing.crash import AK, SECRET, STATE_BLOCK, _env, _read_remote

BUCKET = "team-state"
KEY = "ci/m.lock.json"
HEAD = f"{KEY}.head"
LEASE = 4.0  # SPECRUNNER_LOCK_LEASE for every runner
RULE = "seq"
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
SKEW = 100.0  # seconds of wall-clock skew for a skewed runner
HEADS = ("-1", "3000", "99999999", "abc")  # implausible heads, one per seed (cycling)
MAX_REQUESTS = 200  # a refused apply after hand-made damage makes fewer OSS requests than this
MAX_SECONDS = 60.0  # ... and ends within this


@dataclass
class Figures:
    scenario: str
    seed: int
    jobs: int = 0
    created: int = 0  # jobs created on the service
    duplicates: int = 0
    lost: int = 0
    requests: int = 0  # OSS + MTS requests the emulator answered during the run
    mts: int = 0  # of which MTS (Submit, Query)
    wall: float = 0.0
    longest: float = 0.0  # seconds of the longest command (time spent stopped not counted)
    longest_command: str = ""
    finished: bool = False  # every job of the final manifest Success in the final state
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.skipped is not None or (
            not self.failures and self.duplicates == 0 and self.lost == 0 and self.finished
        )


# ------------------------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env() -> dict[str, str]:
    """The caller's environment without cloud credentials, proxies, specrunner settings or preloads."""
    drop = ("ALIBABA_CLOUD_", "ALIYUN_", "SPECRUNNER_", "FAKETIME", "LD_PRELOAD", "DONT_FAKE")
    return {
        k: v for k, v in os.environ.items() if not k.startswith(drop) and not k.lower().endswith("_proxy")
    }


def _ts(entry: dict[str, Any]) -> float:
    return datetime.strptime(str(entry["ts"]), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


class EmulatorProcess:
    """``specrunner emulator`` in its own process; ``entries()`` reads its request journal file."""

    def __init__(self, root: Path, folder: Path, *, simulate_seconds: float) -> None:
        self.journal = folder / "emulator.jsonl"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: TextIO | None = None
        last = ""
        for attempt in range(5):  # a free port can be taken between the probe and the bind
            port = free_port()
            log_path = folder / f"emulator-{attempt}.log"
            cmd = [sys.executable, "-m", "specrunner", "emulator", "--root", str(root), "--port", str(port)]
            cmd += ["--key", f"{AK}:{SECRET}", "--journal", str(self.journal)]
            cmd += ["--simulate", "--simulate-seconds", str(simulate_seconds)]
            self._log = open(log_path, "w")  # noqa: SIM115 - closed in close()
            self.proc = subprocess.Popen(
                cmd, stdout=self._log, stderr=subprocess.STDOUT, env=_clean_env(), start_new_session=True
            )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.proc.poll() is None:
                last = log_path.read_text(errors="replace")
                if "listening on http://127.0.0.1:" in last:
                    self.url = f"http://127.0.0.1:{port}"
                    return
                time.sleep(0.05)
            self.close()
            last = log_path.read_text(errors="replace")
        raise RuntimeError(f"the emulator did not start:\n{last}")

    def entries(self) -> list[dict[str, Any]]:
        try:
            data = self.journal.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for raw in data.split(b"\n")[:-1]:  # the last piece: empty, or a line being written
            with contextlib.suppress(ValueError):
                out.append(json.loads(raw))
        return out

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class Result:
    label: str
    code: int | None  # None: timed out (then killed)
    out: str
    err: str
    seconds: float  # wall time not counting time spent stopped
    requests: int  # emulator requests answered while it ran (any process's)
    submits: int  # jobs created on the service while it ran (any process's)
    started: float  # time.time()
    ended: float

    @property
    def text(self) -> str:
        return self.out + self.err

    def show(self, limit: int = 2500) -> str:
        def cut(s: str) -> str:
            s = s.strip()
            return s if len(s) <= limit else s[: limit // 2] + "\n[...]\n" + s[-limit // 2 :]

        code = "timed out" if self.code is None else f"exited {self.code}"
        return (
            f"`{self.label}` {code} after {self.seconds:.1f} s\n"
            f"  stdout: {cut(self.out)}\n  stderr: {cut(self.err)}"
        )


class Proc:
    """One command in its own process; stdout and stderr go to files (a stopped process never blocks
    a pipe)."""

    def __init__(self, arena: Arena, label: str, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.arena, self.label = arena, label
        n = len(arena.procs)
        self.out_path = arena.logs / f"{n:02d}-{label.replace(' ', '_')}.out"
        self.err_path = self.out_path.with_suffix(".err")
        self._req0, self._sub0 = arena.counts()
        self.started_wall = time.time()
        self.started = time.monotonic()
        self.paused = 0.0
        self._stopped_at: float | None = None
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "specrunner", *args],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid = self.proc.pid
        self.result: Result | None = None
        arena.procs.append(self)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)
        self._stopped_at = time.monotonic()

    def cont(self) -> None:
        self.proc.send_signal(signal.SIGCONT)
        if self._stopped_at is not None:
            self.paused += time.monotonic() - self._stopped_at
            self._stopped_at = None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def wait(self, timeout: float) -> Result:
        if self.result is not None:
            return self.result
        code: int | None
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
            self.kill()
            code = None
        if self._stopped_at is not None:
            self.cont()
        seconds = time.monotonic() - self.started - self.paused
        req, sub = self.arena.counts()
        self.result = Result(
            self.label,
            code,
            self.out_path.read_text(errors="replace"),
            self.err_path.read_text(errors="replace"),
            seconds,
            req - self._req0,
            sub - self._sub0,
            self.started_wall,
            time.time(),
        )
        self.arena.done(self.result)
        return self.result


# ------------------------------------------------------------------------------------ one run


def manifest_text(n: int, *, prefix: str = "v", remote: bool = True, first: int = 0) -> str:
    inputs = "\n".join(f"  - {prefix}/{i:03d}.mp4" for i in range(first, first + n))
    state = STATE_BLOCK if remote else ""
    return f"""version: 1
target: {{backend: aliyun, region: cn-shanghai, pipeline_id: advpipe, qps: {{submit: 10, query: 100}}}}
defaults: {{location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}}
{state}inputs:
{inputs}
rules:
  - {{id: {RULE}, time: 0, num: 3, interval: 1, output: "s/{{FileName}}/{{Count}}.jpg"}}
"""


def job_keys(n: int, *, prefix: str = "v", first: int = 0) -> set[str]:
    return {f"{prefix}/{i:03d}.mp4::{RULE}" for i in range(first, first + n)}


def _input_of(job: str) -> str:
    """The input object of a ``Input|SnapshotConfig`` job identity, for messages."""
    from urllib.parse import unquote

    try:
        return unquote(str(json.loads(job.split("|", 1)[0])["Object"]))
    except (ValueError, KeyError, TypeError):
        return job[:80]


def created_submits(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("action") == "SubmitSnapshotJob" and e.get("job_id")]


class Arena:
    """One run: a fresh folder, the emulator as its own process, runners in their own folders."""

    def __init__(self, scenario: str, workdir: Path, seed: int, *, simulate_seconds: float = 3.0) -> None:
        self.fig = Figures(scenario, seed)
        self.t0 = time.monotonic()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logs = workdir / "logs"
        self.logs.mkdir(exist_ok=True)
        self.root = workdir / "oss"
        (self.root / BUCKET).mkdir(parents=True, exist_ok=True)
        self.procs: list[Proc] = []
        self.results: list[Result] = []
        self.emu = EmulatorProcess(self.root, workdir, simulate_seconds=simulate_seconds)
        self.url = self.emu.url
        env = {**_clean_env(), **_env(self.url)}
        env.update(SPECRUNNER_OSS_ENDPOINT=self.url, SPECRUNNER_LOCK_LEASE=f"{LEASE:g}")
        self.env = env
        self._runners = 0
        self._shown: set[int] = set()
        self.rng = random.Random(seed)  # the moments of the stops and kills

    # -- set-up

    def runner(self, text: str, name: str = "m.yaml", label: str = "") -> Path:
        """A fresh runner: an empty folder holding only the manifest (an ephemeral CI runner)."""
        self._runners += 1
        folder = self.dir / "runners" / f"{self._runners:02d}{'-' + label if label else ''}"
        folder.mkdir(parents=True)
        (folder / name).write_text(text)
        return folder

    def start(self, label: str, cwd: Path, *args: str, env: dict[str, str] | None = None) -> Proc:
        return Proc(self, label, list(args), cwd, env or self.env)

    def run(
        self, label: str, cwd: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None
    ) -> Result:
        return self.start(label, cwd, *args, env=env).wait(timeout)

    def apply(self, label: str, cwd: Path, *extra: str, name: str = "m.yaml", **kw: Any) -> Proc:
        return self.start(label, cwd, "apply", name, "-q", "--auto-approve", *extra, **kw)

    # -- what the emulator saw

    def counts(self) -> tuple[int, int]:
        entries = self.emu.entries()
        return len(entries), len(created_submits(entries))

    def submitted(self) -> int:
        return len(created_submits(self.emu.entries()))

    def wait_submits(self, n: int, timeout: float = 60, proc: Proc | None = None) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.submitted() >= n:
                return True
            if proc is not None and not proc.alive():
                return self.submitted() >= n
            time.sleep(0.02)
        return False

    def oss_path(self, key: str) -> Path:
        return self.root / BUCKET / key

    def generations(self, what: str) -> list[int]:
        """The generations of ``<KEY>.<what>/`` objects on the emulator's disk."""
        folder = self.oss_path(f"{KEY}.{what}")
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and len(p.name) == 12)

    def lock_info(self, gen: int) -> dict[str, Any]:
        try:
            v = json.loads(self.oss_path(f"{KEY}.lock/{gen:012d}").read_bytes())
        except (OSError, ValueError):
            return {}
        return v if isinstance(v, dict) else {}

    def lease_lines(self, gen: int) -> list[dict[str, Any]]:
        try:
            data = self.oss_path(f"{KEY}.lock/{gen:012d}.lease").read_bytes()
        except OSError:
            return []
        out = []
        for raw in data.splitlines():
            with contextlib.suppress(ValueError):
                v = json.loads(raw)
                if isinstance(v, dict):
                    out.append(v)
        return out

    def bucket(self) -> Any:
        import oss2

        return oss2.Bucket(oss2.Auth(AK, SECRET), self.url, BUCKET)

    # -- checks

    def done(self, res: Result) -> None:
        self.results.append(res)
        if res.seconds > self.fig.longest:
            self.fig.longest, self.fig.longest_command = res.seconds, res.label
        if "Traceback" in res.text or res.code == 70:
            self.fail(f"{res.label}: a traceback or a bug report", res)

    def fail(self, what: str, res: Result | None = None) -> None:
        """Record a failed expectation, with the command's output the first time it is named."""
        if res is not None and id(res) not in self._shown:
            self._shown.add(id(res))
            what += "\n" + res.show()
        elif res is not None:
            what += f" (`{res.label}`: output above)"
        self.fig.failures.append(what)

    def expect(self, cond: bool, what: str, res: Result | None = None) -> bool:
        if not cond:
            self.fail(what, res)
        return cond

    def expect_code(self, res: Result, code: int, why: str = "") -> bool:
        return self.expect(res.code == code, f"{res.label}: expected exit {code}{why}", res)

    def expect_in(self, res: Result, *fragments: str, where: str = "") -> bool:
        text = res.text if not where else (res.err if where == "stderr" else res.out)
        missing = [f for f in fragments if f not in text]
        return self.expect(not missing, f"{res.label}: missing {missing} in its output", res)

    def expect_line(self, res: Result, *fragments: str) -> bool:
        """One line of the output holds every fragment."""
        ok = any(all(f in ln for f in fragments) for ln in res.text.splitlines())
        return self.expect(ok, f"{res.label}: no line with all of {list(fragments)}", res)

    def expect_no_creations(self, res: Result) -> None:
        """An apply that plans nothing to create and submits nothing."""
        made = [int(x) for x in re.findall(r"(\d+) (?:to create|created)", res.text)]
        self.expect(res.submits == 0 and not any(made), f"{res.label}: expected no creations", res)

    def expect_bounded(self, res: Result) -> None:
        self.fig.notes.append(f"{res.label}: exit {res.code}, {res.requests} requests in {res.seconds:.1f} s")
        self.expect(
            res.code is not None and res.seconds < MAX_SECONDS,
            f"{res.label}: expected to end within {MAX_SECONDS:g} s",
            res,
        )
        self.expect(
            res.requests < MAX_REQUESTS,
            f"{res.label}: made {res.requests} requests (bound: {MAX_REQUESTS})",
            res,
        )

    def read_remote(self) -> StateDoc | None:
        return _read_remote(self.env)

    def finish(self, keys: set[str], read: Callable[[], StateDoc | None] | None = None) -> Figures:
        """Count duplicates and lost ids from the emulator's journal against the final state."""
        fig = self.fig
        fig.jobs = len(keys)
        entries = self.emu.entries()
        made = created_submits(entries)
        per_job: Counter[str] = Counter(
            e["params"]["Input"] + "|" + e["params"]["SnapshotConfig"] for e in made
        )
        fig.created = len(made)
        fig.duplicates = sum(n - 1 for n in per_job.values() if n > 1)
        fig.requests = len(entries)
        fig.mts = sum(
            1 for e in entries if str(e.get("action", "")).endswith(("SnapshotJob", "SnapshotJobList"))
        )
        try:
            doc = (read or self.read_remote)()
        except Exception as e:  # an unreadable final state is a failure, never a crash of the harness
            self.fail(f"the final state is unreadable: {e}")
            doc = None
        recorded = {r.job_id for r in doc.jobs.values()} if doc is not None else set()
        fig.lost = len({e["job_id"] for e in made} - recorded)
        if doc is not None:
            missing = sorted(k for k in keys if k not in doc.jobs)
            bad = {k: doc.jobs[k].state for k in keys if k in doc.jobs}
            bad = {k: v for k, v in bad.items() if v != "Success"}
            fig.finished = not bad and not missing
            if missing:
                self.fail(f"the final state lacks {len(missing)} job(s) of the manifest, e.g. {missing[:3]}")
            if bad:
                shown = dict(sorted(bad.items())[:5])
                self.fail(f"the final state is not complete: {len(bad)} job(s) not Success, e.g. {shown}")
        else:
            self.fail("the final state is empty")
        if fig.duplicates:
            twice = [_input_of(k) for k, n in per_job.items() if n > 1][:3]
            self.fail(f"{fig.duplicates} duplicate job(s) on the service, e.g. {twice}")
        if fig.lost:
            self.fail(f"{fig.lost} job id(s) created on the service but missing from the final state")
        return fig

    def close(self) -> None:
        for p in self.procs:
            if p.alive():
                with contextlib.suppress(ProcessLookupError):
                    p.proc.send_signal(signal.SIGCONT)
                with contextlib.suppress(Exception):
                    p.kill()
        self.emu.close()
        self.fig.wall = time.monotonic() - self.t0


@contextlib.contextmanager
def arena(scenario: str, workdir: Path, seed: int, **kw: Any) -> Iterator[Arena]:
    a = Arena(scenario, workdir, seed, **kw)
    try:
        yield a
    finally:
        a.close()


# ------------------------------------------------------------------------------------ libfaketime


def faketime_library() -> Path | None:
    """``libfaketime.so.1`` as the PyPI package ``libfaketime`` ships it (None: not installed)."""
    spec = importlib.util.find_spec("libfaketime")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        so = Path(base) / "vendor" / "libfaketime" / "src" / "libfaketime.so.1"
        if so.is_file():
            return so
    return None


class ClockNotSkewed(Exception):
    """libfaketime loaded, yet the clock is not moved as asked."""


def skewed_env(env: dict[str, str], seconds: float) -> tuple[dict[str, str] | None, str]:
    """``env`` with the wall clock moved by ``seconds`` (monotonic clocks untouched), checked with a
    probe process: (None, why) when the library is missing or cannot be loaded; raises ClockNotSkewed
    when it loads but the clock is not moved."""
    so = faketime_library()
    if so is None:
        return None, "libfaketime is not installed (pip install libfaketime): no libfaketime.so.1 found"
    out = {**env, "LD_PRELOAD": str(so), "FAKETIME": f"{seconds:+g}s", "DONT_FAKE_MONOTONIC": "1"}
    out["FAKETIME_DONT_RESET"] = "1"
    try:
        before = time.time()
        r = subprocess.run(
            [sys.executable, "-c", "import time; print(repr(time.time()))"],
            env=out,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        after = time.time()
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"libfaketime could not be loaded: {e}"
    if r.returncode != 0 or "ld.so" in r.stderr:
        return None, f"libfaketime could not be loaded ({so}): {r.stderr.strip()[-300:]}"
    try:
        seen = float(r.stdout.strip())
    except ValueError:
        return None, f"libfaketime could not be loaded: unexpected probe output {r.stdout!r}"
    skew = seen - (before + after) / 2
    if abs(skew - seconds) > 5:
        raise ClockNotSkewed(f"libfaketime loaded but the clock is off by {skew:+.1f} s, not {seconds:+g} s")
    return out, ""


def _skewed(a: Arena, seconds: float) -> dict[str, str] | None:
    """The runner environment skewed by ``seconds``; None (the run is marked skipped or failed)."""
    try:
        got, why = skewed_env(a.env, seconds)
    except ClockNotSkewed as e:
        a.fail(str(e))
        return None
    if got is None:
        a.fig.skipped = why
    return got


# ------------------------------------------------------------------------------------ scenarios

N_JOBS = 40


def _frozen(scenario: str, workdir: Path, seed: int, skew: float) -> Figures:
    with arena(scenario, workdir, seed) as a:
        b_env: dict[str, str] | None = a.env
        if skew:
            b_env = _skewed(a, skew)
            if b_env is None:
                return a.fig
        n = N_JOBS
        text = manifest_text(n)
        pa = a.apply("A apply", a.runner(text, label="a"))
        quarter = n // 4 + a.rng.randint(-2, 2)
        if not a.expect(a.wait_submits(quarter, proc=pa), "A never submitted a quarter of the jobs"):
            return a.finish(job_keys(n))
        pa.stop()  # its threads wait on the Submit rate limiter, its heartbeat with them
        stopped_at = time.time()
        at_stop = a.submitted()
        pb = a.apply(
            "B apply --lock-timeout 60", a.runner(text, label="b"), "--lock-timeout", "60", env=b_env
        )
        rb = pb.wait(120)
        a.expect_code(rb, 0, " (B takes the lock over from the frozen A and finishes)")
        a.expect_in(rb, "note: waiting for the lock", where="stderr")
        # B took over only once A's lease object stayed unchanged for a full lease
        lease_key = f"{KEY}.lock/{1:012d}.lease"
        appends = [
            e
            for e in a.emu.entries()
            if e.get("action") == "AppendObject"
            and e["params"].get("key") == lease_key
            and e["status"] == 200
        ]
        before = [e for e in appends if _ts(e) < stopped_at]
        after = [e for e in appends if _ts(e) >= stopped_at]
        if a.expect(
            bool(before and after), "no renewal of A before its stop, or no takeover append after it"
        ):
            gap = _ts(after[0]) - (_ts(before[-1]) + float(before[-1]["ms"]) / 1000)
            a.expect(
                gap >= LEASE * 0.98, f"B fenced A's lease {gap:.2f} s after its last renewal (< {LEASE:g} s)"
            )
            a.fig.notes.append(f"B fenced A {gap:.1f} s after A's last renewal; A had {at_stop} submits")
        a.expect(any(x.get("lapsed") for x in a.lease_lines(1)), "A's lease was not marked lapsed")
        resumed_at = time.time()
        pa.cont()
        ra = pa.wait(60)
        a.expect_code(ra, 1, " (A, resumed, lost the lock)")
        a.expect_line(ra, "lost the lock", "submitted")
        late = [e for e in created_submits(a.emu.entries()) if _ts(e) >= resumed_at]
        a.expect(not late, f"A submitted {len(late)} job(s) after it was resumed", ra)
        final = a.apply("final apply", a.runner(text, label="final")).wait(60)
        a.expect_code(final, 0)
        a.expect_no_creations(final)
        return a.finish(job_keys(n))


def run_frozen(workdir: Path, seed: int) -> Figures:
    """A is SIGSTOPped mid-submission; B waits, takes over after a full unrenewed lease, finishes; A,
    resumed, submits nothing and exits 1 saying it lost the lock and what it submitted."""
    return _frozen("frozen", workdir, seed, 0.0)


def run_frozen_skew(workdir: Path, seed: int) -> Figures:
    """``frozen`` with B's wall clock 100 s behind."""
    return _frozen("frozen_skew", workdir, seed, -SKEW)


def run_force_unlock(workdir: Path, seed: int) -> Figures:
    """B is refused by a live A, naming the lock id and force-unlock; force-unlock returns once A
    acknowledged (well within 2 leases); B applies; A exits 1 saying its lock was revoked."""
    with arena("force_unlock", workdir, seed) as a:
        n = N_JOBS
        text = manifest_text(n)
        pa = a.apply("A apply", a.runner(text, label="a"))
        a.expect(a.wait_submits(n // 4, proc=pa), "A never submitted a quarter of the jobs")
        b = a.runner(text, label="b")
        rb = a.apply("B apply", b).wait(60)
        a.expect_code(rb, 1, " (the state is locked by a live A)")
        lock_id = str(a.lock_info(1).get("id", "?"))
        a.expect_in(rb, "force-unlock", lock_id, where="stderr")
        named = UUID.findall(rb.err)
        a.expect(lock_id in named, f"B's error names no lock id (uuid) that is A's ({lock_id})", rb)
        ru = a.run("force-unlock", b, "force-unlock", "m.yaml", named[0] if named else lock_id, timeout=60)
        a.expect_code(ru, 0)
        a.expect(ru.seconds < 2 * LEASE, f"force-unlock took {ru.seconds:.1f} s (>= 2 leases)", ru)
        a.fig.notes.append(f"force-unlock returned after {ru.seconds:.1f} s (lease {LEASE:g} s)")
        a.expect(
            any(x.get("stopped") for x in a.lease_lines(1)),
            "A never acknowledged the revocation (no `stopped` in its lease)",
            ru,
        )
        ra = pa.wait(60)
        a.expect_code(ra, 1, " (A's lock was revoked)")
        a.expect_line(ra, "lost the lock", "revoked")
        rb2 = a.apply("B apply again", b).wait(90)
        late = [e for e in created_submits(a.emu.entries()) if ru.ended <= _ts(e) < rb2.started]
        a.expect(not late, f"{len(late)} job(s) submitted after force-unlock returned, before B's rerun")
        a.expect_code(rb2, 0)
        return a.finish(job_keys(n))


def _skew(scenario: str, workdir: Path, seed: int, skew: float) -> Figures:
    with arena(scenario, workdir, seed, simulate_seconds=8.0) as a:
        got = _skewed(a, skew)
        if got is None:
            return a.fig
        n = N_JOBS
        text = manifest_text(n)
        pa = a.apply("A apply", a.runner(text, label="a"))
        a.expect(a.wait_submits(2, proc=pa), "A never submitted")
        pb = a.apply(
            f"B apply {skew:+g} s --lock-timeout 8", a.runner(text, label="b"), "--lock-timeout", "8", env=got
        )
        rb = pb.wait(60)
        a_alive = pa.alive()
        gens = a.generations("lock")
        if a_alive or rb.code != 0:
            a.expect_code(rb, 1, " (B must not take over from a live A)")
            info = a.lock_info(1)
            a.expect_in(rb, "locked by", str(info.get("id", "?")), f"pid {pa.pid}", where="stderr")
            a.expect(gens == [1], f"B took a lock generation while A held it: {gens}", rb)
            a.expect(not any(x.get("lapsed") for x in a.lease_lines(1)), "B fenced the live A's lease", rb)
        else:
            a.fig.notes.append("A finished before B's lock timeout: B proceeded")
            a.expect_no_creations(rb)
        ra = pa.wait(90)
        a.expect_code(ra, 0, " (A, never fenced, finishes)")
        return a.finish(job_keys(n))


def run_skew_ahead(workdir: Path, seed: int) -> Figures:
    """B's wall clock 100 s ahead sees A's lease as expired: it must not take over from the live A."""
    return _skew("skew_ahead", workdir, seed, SKEW)


def run_skew_behind(workdir: Path, seed: int) -> Figures:
    """B's wall clock 100 s behind: it must not take over from the live A either."""
    return _skew("skew_behind", workdir, seed, -SKEW)


def _two(scenario: str, workdir: Path, seed: int, names: tuple[str, str]) -> Figures:
    with arena(scenario, workdir, seed, simulate_seconds=1.0) as a:
        n = 5
        ta, tb = manifest_text(n, prefix="v"), manifest_text(n, prefix="w")
        fa, fb = a.runner(ta, names[0], label="a"), a.runner(tb, names[1], label="b")
        for round_ in (1, 2):
            ra = a.apply(f"A apply #{round_}", fa, name=names[0]).wait(60)
            a.expect_code(ra, 0)
            if round_ == 2:
                a.expect_no_creations(ra)
            rb = a.apply(f"B apply #{round_}", fb, name=names[1]).wait(60)
            a.expect_code(rb, 1, " (another manifest's state)")
            a.expect(rb.submits == 0, f"B submitted {rb.submits} job(s)", rb)
            # Told apart by name: `state claim` is the way to move one on purpose. Known by the same
            # file name only (no repository): refused because it would forget every job, fix: `name:`.
            a.expect_in(
                rb, "state claim" if names[0] != names[1] else "another manifest's state", where="stderr"
            )
            both = rb.err.count(names[0]) + (rb.err.count(names[1]) if names[1] != names[0] else 0)
            a.expect(
                both >= 2 and names[0] in rb.err and names[1] in rb.err, "B's error names both manifests", rb
            )
        doc = a.read_remote()
        forgotten = job_keys(n) - set(doc.jobs if doc else {})
        a.expect(not forgotten, f"{len(forgotten)} of A's jobs left the state")
        foreign = set(doc.jobs if doc else {}) - job_keys(n)
        a.expect(not foreign, f"B's jobs entered the state: {sorted(foreign)[:3]}")
        return a.finish(job_keys(n))


def run_two_manifests(workdir: Path, seed: int) -> Figures:
    """Two ephemeral runners, each with its own ``m.yaml`` (different inputs), one state: the second
    manifest's apply is refused, A's jobs stay."""
    return _two("two_manifests", workdir, seed, ("m.yaml", "m.yaml"))


def run_two_manifests_named(workdir: Path, seed: int) -> Figures:
    """``two_manifests`` with distinct file names: ``a.yaml`` and ``b.yaml``."""
    return _two("two_manifests_named", workdir, seed, ("a.yaml", "b.yaml"))


def _killed_apply(a: Arena, n: int, text: str, fraction: float, *, wait_lease: bool = True) -> Proc:
    """A runner applies and is SIGKILLed once ``fraction`` of the jobs were submitted; then (optionally)
    its lease runs out by the wall clock."""
    pa = a.apply("A apply (killed)", a.runner(text, label="a"))
    enough = max(1, int(n * fraction) + a.rng.randint(-2, 2))
    a.expect(a.wait_submits(enough, proc=pa), "A never submitted enough jobs")
    time.sleep(0.3)  # their job ids reach the journal (group commit)
    pa.kill()
    pa.wait(10)
    if wait_lease:
        time.sleep(LEASE + 0.5)
    return pa


def _repair_then_apply(a: Arena, text: str) -> None:
    folder = a.runner(text, label="repair")
    rr = a.run("state repair", folder, "state", "repair", "m.yaml", timeout=60)
    a.expect_code(rr, 0)
    a.expect(rr.submits == 0, f"state repair submitted {rr.submits} job(s)", rr)
    rf = a.apply("apply after repair", folder).wait(90)
    a.expect_code(rf, 0)


def run_normal_journal(workdir: Path, seed: int) -> Figures:
    """A killed run's journal replaced by a Normal object with the same bytes (a copy tool): the next
    apply ends within 60 s with a bounded number of requests, naming it and ``state repair``."""
    with arena("normal_journal", workdir, seed) as a:
        n = N_JOBS
        text = manifest_text(n)
        _killed_apply(a, n, text, 0.25)
        gens = a.generations("journal")
        if not a.expect(bool(gens), "A left no journal"):
            return a.finish(job_keys(n))
        key = f"{KEY}.journal/{gens[-1]:012d}"
        b = a.bucket()
        data = b.get_object(key).read()
        b.delete_object(key)
        b.put_object(key, data)
        a.expect(b.head_object(key).object_type == "Normal", "the replaced journal is not a Normal object")
        rn = a.apply("apply on a Normal journal", a.runner(text, label="b")).wait(90)
        a.expect_code(rn, 1)
        a.expect_bounded(rn)
        a.expect_in(rn, key, "specrunner state repair", where="stderr")
        a.expect(rn.submits == 0, f"it submitted {rn.submits} job(s)", rn)
        _repair_then_apply(a, text)
        return a.finish(job_keys(n))


def run_deleted_lock_and_head(workdir: Path, seed: int) -> Figures:
    """Every object under ``K.lock/`` and ``K.head`` deleted after a killed (odd seed) or a completed
    (even seed) apply: the next apply names a journal and ``state repair``, submits nothing."""
    with arena("deleted_lock_and_head", workdir, seed) as a:
        n = N_JOBS
        text = manifest_text(n)
        if seed % 2:
            _killed_apply(a, n, text, 0.5, wait_lease=False)
        else:
            first = a.apply("A apply", a.runner(text, label="a")).wait(90)
            a.expect_code(first, 0)
        b = a.bucket()
        import oss2

        doomed = [o.key for o in oss2.ObjectIteratorV2(b, prefix=f"{KEY}.lock/")] + [HEAD]
        for k in doomed:
            b.delete_object(k)
        a.fig.notes.append(f"{'killed' if seed % 2 else 'completed'} apply; deleted {len(doomed)} objects")
        rn = a.apply("apply without lock objects", a.runner(text, label="b")).wait(90)
        a.expect_code(rn, 1, " (never a silent new lineage)")
        a.expect_bounded(rn)
        a.expect_in(rn, f"{KEY}.journal/", "state repair", where="stderr")
        a.expect(rn.submits == 0, f"it submitted {rn.submits} job(s)", rn)
        _repair_then_apply(a, text)
        return a.finish(job_keys(n))


def run_implausible_head(workdir: Path, seed: int) -> Figures:
    """``K.head`` set to -1 / 3000 / 99999999 / abc (by seed) after a killed (odd seed) or completed
    apply: the next apply ends within 60 s, bounded, naming the head; repair, apply: complete."""
    with arena("implausible_head", workdir, seed) as a:
        n = N_JOBS
        text = manifest_text(n)
        value = HEADS[(seed - 1) % len(HEADS)]
        if seed % 2:
            _killed_apply(a, n, text, 0.5)
        else:
            first = a.apply("A apply", a.runner(text, label="a")).wait(90)
            a.expect_code(first, 0)
        a.bucket().put_object(HEAD, value.encode())
        a.fig.notes.append(f"head {value!r} after a {'killed' if seed % 2 else 'completed'} apply")
        rn = a.apply(f"apply with head {value}", a.runner(text, label="b")).wait(90)
        a.expect_code(rn, 1)
        a.expect_bounded(rn)
        a.expect_in(rn, HEAD, where="stderr")
        a.expect(rn.submits == 0, f"it submitted {rn.submits} job(s)", rn)
        _repair_then_apply(a, text)
        return a.finish(job_keys(n))


_IMPERATIVE = re.compile(r"\b(delete|remove|move|rename|rm|mv)\b(?! -)", re.I)
_NEGATION = re.compile(r"(\bnot|\bnever|n't|\bno)\s+$", re.I)


def advises_removal(text: str) -> str | None:
    """The first place where ``text`` tells the user to delete or move something (a negated mention,
    "do not delete the object", is not advice)."""
    for m in _IMPERATIVE.finditer(text):
        if not _NEGATION.search(text[max(0, m.start() - 12) : m.start()]):
            return text[max(0, m.start() - 60) : m.end() + 60]
    return None


def run_corrupt_journal(workdir: Path, seed: int) -> Figures:
    """One job-id record in the middle of a killed run's journal damaged in place (same length): the
    next apply names the object, the byte and ``state repair`` with counts, never "delete it"; after
    the repair the damaged job is found by its tag (its intent survived)."""
    with arena("corrupt_journal", workdir, seed) as a:
        n = N_JOBS
        text = manifest_text(n)
        _killed_apply(a, n, text, 0.5)
        gens = a.generations("journal")
        if not a.expect(bool(gens), "A left no journal"):
            return a.finish(job_keys(n))
        key = f"{KEY}.journal/{gens[-1]:012d}"
        path = a.oss_path(key)
        data = path.read_bytes()
        starts = [0] + [i + 1 for i, c in enumerate(data) if c == 0x0A][:-1]
        ids: list[tuple[int, str, str]] = []  # (offset, job key, job id) of job-id records
        for s in starts:
            end = data.find(b"\n", s)
            with contextlib.suppress(ValueError):
                rec = json.loads(data[s:end])
                if isinstance(rec, dict) and rec.get("op") == "put":
                    entry = rec.get("entry") or rec.get("record") or {}
                    if entry.get("job_id") and entry.get("state") == "Submitted" and end < len(data) - 1:
                        ids.append((s, str(rec["key"]), str(entry["job_id"])))
        if not a.expect(len(ids) >= 1, f"A's journal holds no job-id record to damage ({len(data)} bytes)"):
            return a.finish(job_keys(n))
        offset, damaged_key, damaged_id = ids[(len(ids) // 2 + seed) % len(ids)]
        with open(path, "r+b") as f:  # in place, same length: the object stays appendable
            f.seek(offset)
            f.write(b"#\x01@!")
        a.fig.notes.append(f"damaged the job-id record of {damaged_key} at byte {offset} of {key}")
        rn = a.apply("apply on a damaged journal", a.runner(text, label="b")).wait(90)
        a.expect_code(rn, 1)
        a.expect_bounded(rn)
        a.expect_in(rn, key, f"byte {offset}", "state repair", where="stderr")
        a.expect(
            re.search(r"\d+ (readable|unreadable|records?|jobs?)\b", rn.err) is not None,
            "the error gives no counts of what `state repair` keeps",
            rn,
        )
        advice = advises_removal(rn.err)
        a.expect(advice is None, f"the error tells the user to delete or move something: ...{advice}...", rn)
        a.expect(rn.submits == 0, f"it submitted {rn.submits} job(s)", rn)
        _repair_then_apply(a, text)
        doc = a.read_remote()
        entry = doc.jobs.get(damaged_key) if doc is not None else None
        got = entry.job_id if entry is not None else None
        a.expect(
            got == damaged_id,
            f"{damaged_key}: job id {got}, not the one its damaged record held ({damaged_id})",
        )
        return a.finish(job_keys(n))


def run_symlinked_local(workdir: Path, seed: int) -> Figures:
    """A local lock file that is a symlink into another folder (a persistent volume): SIGKILL mid-apply,
    rerun: nothing doubled, the link stays a link, the journal lives beside the target."""
    with arena("symlinked_local", workdir, seed) as a:
        small, n = 4, N_JOBS
        folder = a.dir / "runner"
        volume = a.dir / "volume"
        folder.mkdir()
        volume.mkdir()
        (folder / "m.yaml").write_text(manifest_text(small, remote=False))
        first = a.apply("first apply (4 jobs)", folder).wait(60)
        a.expect_code(first, 0)
        target = volume / "m.lock.json"
        os.replace(folder / "m.lock.json", target)
        for p in folder.glob("m.lock.json*"):
            p.unlink()
        (folder / "m.lock.json").symlink_to(target)
        (folder / "m.yaml").write_text(manifest_text(n, remote=False))
        pa = a.apply("apply (killed)", folder)
        quarter = small + (n - small) // 4 + a.rng.randint(-2, 2)
        a.expect(a.wait_submits(quarter, proc=pa), "the apply never submitted a quarter")
        time.sleep(0.2)
        pa.kill()
        pa.wait(10)
        a.expect(
            (volume / "m.lock.json.journal").exists(), "no journal beside the link's target after the kill"
        )
        here = sorted(
            p.name for p in folder.iterdir() if p.name.startswith("m.lock.json") and p.name != "m.lock.json"
        )
        a.expect(not here, f"state files beside the link instead of its target: {here}")
        rr = a.apply("rerun", folder).wait(90)
        a.expect_code(rr, 0)
        link = folder / "m.lock.json"
        a.expect(
            link.is_symlink() and Path(os.readlink(link)) == target, "the lock file is no longer the link"
        )
        here = sorted(
            p.name for p in folder.iterdir() if p.name.startswith("m.lock.json") and p.name != "m.lock.json"
        )
        a.expect(not here, f"state files beside the link instead of its target: {here}")
        return a.finish(job_keys(n), lambda: read_state(link))


SCENARIOS: dict[str, Callable[[Path, int], Figures]] = {
    "frozen": run_frozen,
    "frozen_skew": run_frozen_skew,
    "force_unlock": run_force_unlock,
    "skew_ahead": run_skew_ahead,
    "skew_behind": run_skew_behind,
    "two_manifests": run_two_manifests,
    "two_manifests_named": run_two_manifests_named,
    "normal_journal": run_normal_journal,
    "deleted_lock_and_head": run_deleted_lock_and_head,
    "implausible_head": run_implausible_head,
    "corrupt_journal": run_corrupt_journal,
    "symlinked_local": run_symlinked_local,
}


# ------------------------------------------------------------------------------------ the CLI


def line(fig: Figures) -> str:
    if fig.skipped is not None:
        return f"{fig.scenario} seed {fig.seed}: SKIPPED: {fig.skipped}"
    state = "ok" if fig.ok else "FAIL"
    head = (
        f"{fig.scenario} seed {fig.seed}: {state}: duplicates {fig.duplicates}, lost {fig.lost}, "
        f"requests {fig.requests} ({fig.mts} MTS), wall {fig.wall:.1f} s, longest {fig.longest:.1f} s "
        f"({fig.longest_command}), {'complete' if fig.finished else 'NOT complete'}"
    )
    extra = [f"  note: {n}" for n in fig.notes] + [
        "  failed: " + f.replace("\n", "\n    ") for f in fig.failures
    ]
    return "\n".join([head, *extra])


def table(figs: list[Figures]) -> str:
    head = (
        f"{'scenario':<22} {'runs':>4} {'failed':>6} {'dup':>4} {'lost':>4} {'requests/run':>13} "
        f"{'wall s/run':>11} {'longest s':>9} {'complete':>8}"
    )
    rows = [head, "-" * len(head)]
    for name in dict.fromkeys(f.scenario for f in figs):
        fs = [f for f in figs if f.scenario == name and f.skipped is None]
        skipped = sum(1 for f in figs if f.scenario == name and f.skipped is not None)
        if not fs:
            rows.append(f"{name:<22} {'':>4} skipped ({skipped})")
            continue
        req = f"{statistics.mean(f.requests for f in fs):.0f} (max {max(f.requests for f in fs)})"
        wall = f"{statistics.mean(f.wall for f in fs):.1f}"
        rows.append(
            f"{name:<22} {len(fs):>4} {sum(not f.ok for f in fs):>6} {sum(f.duplicates for f in fs):>4} "
            f"{sum(f.lost for f in fs):>4} {req:>13} {wall:>11} {max(f.longest for f in fs):>9.1f} "
            f"{sum(f.finished for f in fs):>3}/{len(fs):<4}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="all", help=f"all, or one of: {', '.join(SCENARIOS)}")
    ap.add_argument("--runs", type=int, default=20, help="runs per scenario (seeds SEED, SEED+1, ...)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="keep every run's folder (logs, emulator journal) under this")
    args = ap.parse_args(argv)
    names = list(SCENARIOS) if args.scenario == "all" else args.scenario.split(",")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s) {unknown}: choose from {', '.join(SCENARIOS)} or all")
    figs: list[Figures] = []
    for name in names:
        for i in range(args.runs):
            seed = args.seed + i
            if args.keep is not None:
                fig = SCENARIOS[name](args.keep / f"{name}-{seed}", seed)
            else:
                with tempfile.TemporaryDirectory(prefix=f"adversary-{name}-") as tmp:
                    fig = SCENARIOS[name](Path(tmp), seed)
            figs.append(fig)
            print(line(fig), flush=True)
        print(flush=True)
        print(table([f for f in figs if f.scenario == name]), flush=True)
        print(flush=True)
    if len(names) > 1:
        print(table(figs))
    return 0 if all(f.ok for f in figs) else 1


if __name__ == "__main__":
    sys.exit(main())
