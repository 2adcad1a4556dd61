"""The processes of an adversary run: ``specrunner emulator`` in its own process (a stopped runner
never stops the server) and each ``specrunner`` command in its own session, stopped (SIGSTOP),
resumed (SIGCONT) and killed (SIGKILL) by the scenario; its result with the wall time it ran, not
counting the time it spent stopped."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from specrunner.testing.crash import AK, SECRET


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env() -> dict[str, str]:
    """The caller's environment without cloud credentials, proxies, specrunner settings or preloads."""
    drop = ("ALIBABA_CLOUD_", "ALIYUN_", "SPECRUNNER_", "FAKETIME", "LD_PRELOAD", "DONT_FAKE")
    return {
        k: v for k, v in os.environ.items() if not k.startswith(drop) and not k.lower().endswith("_proxy")
    }


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
                cmd, stdout=self._log, stderr=subprocess.STDOUT, env=clean_env(), start_new_session=True
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
    a pipe). ``counts`` gives (requests, jobs created) the emulator answered so far, any process's;
    ``on_done`` receives the result once, when the command ended."""

    def __init__(
        self,
        label: str,
        args: list[str],
        cwd: Path,
        env: dict[str, str],
        *,
        out_path: Path,
        counts: Callable[[], tuple[int, int]],
        on_done: Callable[[Result], None],
    ) -> None:
        self.label = label
        self.out_path = out_path
        self.err_path = self.out_path.with_suffix(".err")
        self._counts, self._on_done = counts, on_done
        self._req0, self._sub0 = counts()
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
        req, sub = self._counts()
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
        self._on_done(self.result)
        return self.result
