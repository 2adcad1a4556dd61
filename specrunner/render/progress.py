"""Progress for long runs: counts of submitted / running / done / failed, rate and ETA.

On a terminal it shows a live rich progress bar that fits 80 columns; without one, or with ``CI``
set, it prints a plain line every few seconds. ``quiet`` prints nothing but failures; ``verbose``
prints one line per job event.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, TextIO

from specrunner.apply import events as ev
from specrunner.apply.events import Event
from specrunner.core.jobstates import FINAL_STATES
from specrunner.render.style import WIDTH, shorten


def ci() -> bool:
    """``CI`` set (to anything but empty, 0 or false) means plain lines, even on a terminal."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


class Progress:
    def __init__(
        self,
        *,
        quiet: bool = False,
        verbose: bool = False,
        stream: TextIO | None = None,
        interval: float | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.quiet, self.verbose = quiet, verbose
        self.tty = self.stream.isatty() and not ci()
        self.interval = interval if interval is not None else (0.2 if self.tty else 5.0)
        self.total = self.to_submit = 0
        self.submitted = self.done = self.failed = self.retries = 0
        self._running: set[str] = set()
        self._resumed = 0
        self.start = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None

    def event(self, e: Event) -> None:
        with self._lock:
            if isinstance(e, ev.Start):
                self.total, self.to_submit, self._resumed = e.total, e.submit, e.poll
                self.start = time.monotonic()
            elif isinstance(e, ev.Submitted):
                self.submitted += 1
                if e.state not in FINAL_STATES:
                    self._running.add(e.key)
            elif isinstance(e, ev.Finished):
                if e.state == "Success":
                    self.done += 1
                else:
                    self.failed += 1
                self._running.discard(e.key)
            elif isinstance(e, ev.Failed):
                self.failed += 1
            elif isinstance(e, ev.Retry):
                self.retries += 1
            # The line is made only when it is shown: per job events are many, shown lines few.
            if (
                self.verbose
                or (isinstance(e, ev.Failed) and not self.quiet)
                or (isinstance(e, ev.Finished) and e.state == "Fail" and not self.quiet)
            ):
                line = self._event_line(e)
                if line:
                    self._print(line)
            self._tick()

    @property
    def running(self) -> int:
        return len(self._running)

    def _event_line(self, e: Event) -> str | None:
        if isinstance(e, ev.Submitted):
            how = "adopted" if e.adopted else "submitted"
            return f"  {how} {e.key} -> {e.job_id} ({e.state})"
        if isinstance(e, ev.Finished):
            mark = "✓" if e.state == "Success" else "✗"
            err = f" {e.code}: {e.message}" if e.code else ""
            return self._fit(f"  {mark} {e.key} {e.state}{err}")
        if isinstance(e, ev.Failed):
            return self._fit(f"  ✗ {e.key} {e.code}: {e.message}")
        if isinstance(e, ev.Retry) and self.verbose:
            return f"  retry {e.key or 'query'}: {e.error}"
        if isinstance(e, ev.Adopted):
            return f"  adopted {e.key} -> {e.job_id} (found by its tag)"
        return None

    def _fit(self, line: str) -> str:
        """A failure's line cut to 80 columns (whole with ``verbose``, in the summary's ``state
        show`` hint and in the run results)."""
        return line if self.verbose else shorten(line, WIDTH)

    def status(self) -> str:
        elapsed = max(1e-6, time.monotonic() - self.start)
        finished = self.done + self.failed
        rate = finished / elapsed
        remaining = max(0, self.to_submit + self._resumed - finished) if self.to_submit else 0
        eta = f", ETA {remaining / rate:.0f}s" if rate > 0 and remaining else ""
        return (
            f"[{elapsed:6.1f}s] submitted {self.submitted}/{self.to_submit}, running {self.running}, "
            f"done {self.done}, failed {self.failed}, {rate:.1f} jobs/s{eta}"
        )

    def _tick(self, force: bool = False) -> None:
        if self.quiet or self.verbose or not (self.to_submit or self._resumed):
            return
        if self.tty:
            self._bar_update()
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self.stream.write(self.status() + "\n")
        self.stream.flush()

    def _bar_update(self) -> None:
        """A live rich progress bar: done+failed of all jobs to run, with the other counts."""
        from rich.console import Console
        from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar

        total = self.to_submit + self._resumed
        fields = dict(
            submitted=self.submitted,
            running=self.running,
            done=self.done,
            failed=self.failed,
            rate=(self.done + self.failed) / max(1e-6, time.monotonic() - self.start),
        )
        if self._bar is None:
            # One line that fits 80 columns for up to 99,999 jobs: a short bar, the counts, the ETA.
            self._bar = Bar(
                BarColumn(bar_width=10),
                TextColumn("{task.completed}/{task.total}"),
                TextColumn(
                    "sub {task.fields[submitted]} run {task.fields[running]} "
                    "ok [green]{task.fields[done]}[/] fail [red]{task.fields[failed]}[/] "
                    "{task.fields[rate]:.1f}/s"
                ),
                TextColumn("ETA"),
                TimeRemainingColumn(compact=True),
                console=Console(file=self.stream),
                transient=False,
                refresh_per_second=8,
            )
            self._bar.start()
            self._task = self._bar.add_task("apply", total=total, **fields)
        self._bar.update(self._task, total=total, completed=self.done + self.failed, **fields)

    def _print(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False)
            return
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar_update()
                self._bar.stop()
                self._bar = None
                return
            if self.quiet or self.verbose or not (self.to_submit or self._resumed):
                return
            self._tick(force=True)
