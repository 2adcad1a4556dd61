"""One adversary run, the stage every scenario plays on: a fresh folder, the emulator as its own
process, runners as fresh folders holding only the manifest (ephemeral CI runners), the state in OSS
at ``BUCKET``/``KEY``; what the emulator saw (requests, jobs created, lock and lease objects on its
disk); the scenario's expectations, each failed one recorded with the command's output; and the final
accounting of duplicates and lost ids (``finish``)."""

from __future__ import annotations

import contextlib
import json
import random
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import oss2

from specrunner.statefile.doc import StateDoc
from specrunner.testing.adversary.accounting import created_submits, tally
from specrunner.testing.adversary.clock import ClockNotSkewed, skewed_env
from specrunner.testing.adversary.figures import Figures
from specrunner.testing.adversary.processes import EmulatorProcess, Proc, Result, clean_env
from specrunner.testing.crash import AK, SECRET, STATE_BLOCK, _env, _read_remote

BUCKET = "team-state"
KEY = "ci/m.lock.json"
HEAD = f"{KEY}.head"
LEASE = 4.0  # SPECRUNNER_LOCK_LEASE for every runner
RULE = "seq"
N_JOBS = 40  # jobs of a scenario's manifest
MAX_REQUESTS = 200  # a refused apply after hand-made damage makes fewer OSS requests than this
MAX_SECONDS = 60.0  # ... and ends within this


def manifest_text(n: int, *, prefix: str = "v", remote: bool = True, first: int = 0) -> str:
    inputs = "\n".join(f"  - {prefix}/{i:03d}.mp4" for i in range(first, first + n))
    state = STATE_BLOCK if remote else ""
    return f"""version: 1
target: {{backend: aliyun, region: cn-shanghai, qps: {{submit: 10, query: 100}},
         pipeline_id: adf00d00adf00d00adf00d00adf00d00}}
defaults: {{location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}}
{state}inputs:
{inputs}
rules:
  - {{id: {RULE}, time: 0, num: 3, interval: 1, output: "s/{{FileName}}/{{Count}}.jpg"}}
"""


def job_keys(n: int, *, prefix: str = "v", first: int = 0) -> set[str]:
    return {f"{prefix}/{i:03d}.mp4::{RULE}" for i in range(first, first + n)}


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
        env = {**clean_env(), **_env(self.url)}
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
        out_path = self.logs / f"{len(self.procs):02d}-{label.replace(' ', '_')}.out"
        proc = Proc(
            label, list(args), cwd, env or self.env, out_path=out_path, counts=self.counts, on_done=self.done
        )
        self.procs.append(proc)
        return proc

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

    def skewed(self, seconds: float) -> dict[str, str] | None:
        """The runner environment with the wall clock moved by ``seconds``; None: the run is marked
        skipped (no libfaketime) or failed (it loads but does not move the clock)."""
        try:
            got, why = skewed_env(self.env, seconds)
        except ClockNotSkewed as e:
            self.fail(str(e))
            return None
        if got is None:
            self.fig.skipped = why
        return got

    def read_remote(self) -> StateDoc | None:
        return _read_remote(self.env)

    def finish(self, keys: set[str], read: Callable[[], StateDoc | None] | None = None) -> Figures:
        """Count duplicates and lost ids from the emulator's journal against the final state."""
        entries = self.emu.entries()
        try:
            doc = (read or self.read_remote)()
        except Exception as e:  # an unreadable final state is a failure, never a crash of the harness
            self.fail(f"the final state is unreadable: {e}")
            doc = None
        for what in tally(self.fig, keys, entries, doc):
            self.fail(what)
        return self.fig

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
